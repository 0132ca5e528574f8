package review_test

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/review"
)

// TestCheckTrailNamesTheFirstBadEntry: an intact trail passes; an entry
// edited behind pawl's back (the update guard dropped and put back) is a
// *BrokenTrailError naming that entry, in one line that says what to do.
func TestCheckTrailNamesTheFirstBadEntry(t *testing.T) {
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	if err := review.CheckTrail(ctx, p); err != nil {
		t.Fatalf("intact trail: %v", err)
	}
	e, _, err := p.CommittedEntry(ctx, b.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	path := project.NewLayout(p.Root, ".pawl").TrailPath()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	var trigger string
	if err := db.QueryRow("SELECT sql FROM sqlite_schema WHERE name = 'entries_no_update'").Scan(&trigger); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"DROP TRIGGER entries_no_update", "UPDATE entries SET reason = 'forged' WHERE seq = ?", trigger} {
		var args []any
		if strings.Contains(s, "?") {
			args = append(args, e.Seq)
		}
		if _, err := db.Exec(s, args...); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()
	q, err := project.OpenReadOnly(ctx, p.Root, enginetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	err = review.CheckTrail(ctx, q)
	var be *review.BrokenTrailError
	if !errors.As(err, &be) || be.FirstBad != e.Seq || !strings.Contains(be.Problem, "hash mismatch") {
		t.Fatalf("edited entry %d: %v", e.Seq, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "`pawl audit verify`") || !strings.Contains(msg, "backup") || !strings.HasPrefix(msg, "the audit trail does not verify at entry ") {
		t.Fatalf("message: %s", msg)
	}
}
