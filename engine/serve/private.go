package serve

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// CheckPrivate checks that each path, and each entry directly inside it
// when it is a directory, is owned by this process's account and gives
// group and others no access. It returns every problem, one a line, each
// with the command that fixes it; nil when all is private. A path that does
// not exist is not a problem (it is made private when it is made).
func CheckPrivate(paths ...string) error {
	uid := os.Geteuid()
	var problems []string
	check := func(path string, fi fs.FileInfo) {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			problems = append(problems, fmt.Sprintf("%s is a symbolic link: the service's files must be its own; replace it with the file or directory itself", path))
			return
		}
		if int(st.Uid) != uid {
			problems = append(problems, fmt.Sprintf("%s is owned by uid %d, not by the service's account (uid %d): run chown -R %d %s", path, st.Uid, uid, uid, path))
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			problems = append(problems, fmt.Sprintf("%s is mode %04o, open to group or others: run chmod -R go-rwx %s", path, perm, path))
		}
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		check(p, fi)
		if !fi.IsDir() {
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("reading %s: %v", p, err))
			continue
		}
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				continue
			}
			check(filepath.Join(p, e.Name()), fi)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &PrivacyError{Problems: problems}
}

// PrivacyError lists what is not private to the service.
type PrivacyError struct{ Problems []string }

func (e *PrivacyError) Error() string {
	return "refusing to serve: what the service owns must be private to its account:\n  " + strings.Join(e.Problems, "\n  ")
}
