package validate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/version"
)

// Binary is the running binary's identity.
type Binary struct {
	Path        string            `json:"path"`
	SHA256      string            `json:"sha256"`
	Module      string            `json:"module"`
	Version     string            `json:"version"`
	Go          string            `json:"go"`
	VCSRevision string            `json:"vcs_revision,omitempty"`
	VCSTime     string            `json:"vcs_time,omitempty"`
	VCSModified string            `json:"vcs_modified,omitempty"`
	Deps        map[string]string `json:"deps"` // module path → version
}

func binaryIdentity() (Binary, error) {
	b := Binary{Version: version.Pawl(), Go: runtime.Version(), Deps: map[string]string{}}
	b.Path, _ = os.Executable()
	sum, err := version.BinarySHA256()
	if err != nil {
		return b, fmt.Errorf("hashing this binary (%s): %w", b.Path, err)
	}
	b.SHA256 = sum
	b.VCSRevision, b.VCSTime, b.VCSModified = version.VCS()
	if bi, ok := debug.ReadBuildInfo(); ok {
		b.Module = bi.Main.Path
		for _, d := range bi.Deps {
			v := d.Version
			if d.Replace != nil {
				v += " => " + d.Replace.Path + " " + d.Replace.Version
			}
			b.Deps[d.Path] = v
		}
	}
	return b, nil
}

// iq runs the installation checks: the binary, and with a project its
// files' permissions and owner, the clock, the accounts.
func iq(ctx context.Context, opt Options, b Binary) []Check {
	var out []Check
	timed := func(f func() Check) {
		start := time.Now()
		c := f()
		c.Kind = "IQ"
		c.Millis = time.Since(start).Milliseconds()
		if c.Evidence == nil {
			c.Evidence = []string{}
		}
		out = append(out, c)
	}
	timed(func() Check { return checkBinary(b) })
	if opt.Project != nil {
		timed(func() Check { return checkPermissions(opt.Project.Layout) })
	}
	timed(func() Check { return checkClock(opt.RequireClockSync) })
	timed(func() Check { return checkAccount(opt.Project) })
	return out
}

func checkBinary(b Binary) Check {
	c := Check{ID: "iq.binary", Title: "binary identity",
		Expected: "the running binary's sha256, its module path and version, the Go version and its dependencies' versions are readable, to compare with the binary the site qualified"}
	c.Evidence = append(c.Evidence, "path "+b.Path, "sha256:"+b.SHA256, "module "+b.Module+" "+b.Version, "go "+b.Go)
	if b.VCSRevision != "" {
		c.Evidence = append(c.Evidence, fmt.Sprintf("vcs revision %s (%s, modified %s)", b.VCSRevision, b.VCSTime, b.VCSModified))
	}
	for _, k := range sortedKeys(b.Deps) {
		c.Evidence = append(c.Evidence, "dep "+k+" "+b.Deps[k])
	}
	switch {
	case b.SHA256 == "":
		c.Status, c.Observed = Fail, "the binary could not be hashed"
	case b.Module == "":
		c.Status, c.Observed = Fail, "the binary carries no build information (module path and dependencies): build it with the go command from the module"
	default:
		c.Status = Pass
		c.Observed = fmt.Sprintf("sha256:%s, %s %s, %s, %d dependencies", b.SHA256, b.Module, b.Version, b.Go, len(b.Deps))
	}
	return c
}

// owner names a file's owner: "uid N (name)".
func owner(fi fs.FileInfo) (int, string) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, "owner unknown"
	}
	uid := int(st.Uid)
	s := "uid " + strconv.Itoa(uid)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		s += " (" + u.Username + ")"
	}
	return uid, s
}

// checkPermissions: no key file is open to group or others, and neither
// the data directory nor the trail is world-writable.
func checkPermissions(l project.Layout) Check {
	c := Check{ID: "iq.permissions", Title: "permissions and owner of the data directory, keys and trail",
		Expected: "no private key file (keys/ but *.pub, operators/*.key) or keys directory open to group or others; the data directory, the store and the trail not world-writable; the owner of each named"}
	var problems []string
	look := func(path string, private bool) {
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			problems = append(problems, err.Error())
			return
		}
		_, who := owner(fi)
		perm := fi.Mode().Perm()
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s %s %s", path, fi.Mode(), who))
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			problems = append(problems, fmt.Sprintf("%s is a symbolic link: replace it with the file itself", path))
		case private && perm&0o077 != 0:
			problems = append(problems, fmt.Sprintf("%s is mode %04o, open to group or others: run chmod go-rwx %s", path, perm, path))
		case perm&0o002 != 0:
			problems = append(problems, fmt.Sprintf("%s is mode %04o, writable by anyone: run chmod o-w %s", path, perm, path))
		}
	}
	look(l.Data, false)
	look(l.StoreDir(), false)
	look(l.TrailPath(), false)
	look(l.KeysDir(), true)
	for _, dir := range []string{l.KeysDir(), l.OperatorsDir()} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			// Public keys (engine.pub) are meant to be read.
			if filepath.Ext(e.Name()) == ".pub" || dir == l.OperatorsDir() && filepath.Ext(e.Name()) != ".key" {
				continue
			}
			look(filepath.Join(dir, e.Name()), true)
		}
	}
	if len(problems) > 0 {
		c.Status, c.Observed = Fail, joinLines(problems)
		return c
	}
	c.Status, c.Observed = Pass, fmt.Sprintf("%d paths checked, none open", len(c.Evidence))
	return c
}

// checkAccount names the account running the kit and, when the project is
// served (its socket exists), the service's account, which must own the
// data directory.
func checkAccount(p *project.Project) Check {
	c := Check{ID: "iq.account", Title: "the account running pawl and the service account",
		Expected: "the account running this is named; when the project is served, the service's account (the socket's owner) owns the data directory"}
	uid := os.Geteuid()
	me := "uid " + strconv.Itoa(uid)
	if u, err := user.Current(); err == nil {
		me += " (" + u.Username + ")"
	}
	c.Evidence = append(c.Evidence, "running as "+me)
	if uid == 0 {
		c.Evidence = append(c.Evidence, "running as root: run pawl under an account of its own (SECURITY.md)")
	}
	c.Status, c.Observed = Pass, "running as "+me
	if p == nil {
		c.Observed += "; no project"
		return c
	}
	dfi, err := os.Stat(p.Data)
	if err != nil {
		c.Status, c.Observed = Fail, err.Error()
		return c
	}
	duid, downer := owner(dfi)
	c.Evidence = append(c.Evidence, "data directory "+p.Data+" owned by "+downer)
	sock := filepath.Join(p.Root, "pawl.sock")
	sfi, err := os.Lstat(sock)
	if err != nil {
		c.Observed += "; the project is not served (no " + sock + "): local mode, every operator acts as the OS account that runs pawl"
		return c
	}
	suid, sowner := owner(sfi)
	c.Evidence = append(c.Evidence, "service socket "+sock+" owned by "+sowner)
	if suid != duid {
		c.Status = Fail
		c.Observed = fmt.Sprintf("the project is served by %s but its data directory %s is owned by %s: the service's account must own it (chown -R %d %s)", sowner, p.Data, downer, suid, p.Data)
		return c
	}
	c.Observed += "; served by " + sowner + ", who owns the data directory"
	return c
}
