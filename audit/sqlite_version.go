package audit

import sqlite3 "github.com/mattn/go-sqlite3"

// SQLiteVersion is the version of the SQLite library linked into pawl.
func SQLiteVersion() string {
	v, _, _ := sqlite3.Version()
	return v
}
