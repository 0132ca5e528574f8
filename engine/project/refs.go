package project

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/pawl-dev/pawl/engine/schema"
	"github.com/pawl-dev/pawl/engine/store"
)

// Ref is one file a job references and what the job uses it for.
type Ref struct {
	Path string // relative to the project root, slash-separated, clean
	What string // e.g. "schema", "lookup registry of registry@1.1.0"
}

// Refs lists the files the job spec names, with what each is for: the
// spec itself, its schema, the normalization reference files and the
// lookup files. The files the schema reaches through $ref are known only
// once it is compiled (CompileSchema).
func (j *Job) Refs() []Ref {
	refs := []Ref{{j.Path, "job spec"}, {j.Schema, "schema"}}
	for _, ptr := range slices.Sorted(maps.Keys(j.Normalize.References)) {
		refs = append(refs, Ref{CleanRef(j.Normalize.References[ptr]), "normalize reference file for " + ptr})
	}
	for _, v := range j.Validators {
		for _, name := range slices.Sorted(maps.Keys(v.Lookups)) {
			refs = append(refs, Ref{CleanRef(v.Lookups[name]), "lookup " + name + " of " + v.Plugin})
		}
	}
	return refs
}

// ReferenceError refuses a reference that does not resolve to a regular
// file inside the project root and outside the data directory: a job could
// otherwise hand a plugin the engine's private key as a lookup (and have it
// copied into the store), or read a file from anywhere through a symlink.
type ReferenceError struct {
	Job      string // the job spec's path; "" for the spec itself
	Ref      Ref
	Resolved string // where it resolves, after symlinks
	Why      string
}

func (e *ReferenceError) Error() string {
	where := ""
	if e.Job != "" {
		where = e.Job + ": "
	}
	return fmt.Sprintf("%s%s %q resolves to %s, %s: a job may reference only regular files inside the project, outside its data directory",
		where, e.Ref.What, e.Ref.Path, e.Resolved, e.Why)
}

// CheckReference refuses a reference of job (nil for the job spec itself)
// that is not, after symlinks, a regular file inside the project root and
// outside the data directory (when the layout has one; a tree laid out
// from the store has none). A file that does not exist is not refused
// here: whether it should exist is for its pin to say.
func (l Layout) CheckReference(job *Job, r Ref) error {
	jobPath := ""
	if job != nil {
		jobPath = job.Path
	}
	path := l.File(r.Path)
	refuse := func(resolved, why string, a ...any) error {
		return &ReferenceError{Job: jobPath, Ref: r, Resolved: resolved, Why: fmt.Sprintf(why, a...)}
	}
	if !filepath.IsLocal(filepath.FromSlash(r.Path)) {
		return refuse(path, "outside the project %s", l.Root)
	}
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return refuse(path, "which cannot be resolved (%v)", err)
	}
	root := realDir(l.Root)
	if !within(root, real) {
		return refuse(real, "outside the project %s", l.Root)
	}
	if l.Data != "" {
		data := realDir(l.Data)
		if within(data, real) || within(l.Data, path) {
			return refuse(real, "inside the data directory %s (the trail, the store and the keys)", l.Data)
		}
	}
	fi, err := os.Stat(real)
	if err != nil {
		return refuse(real, "which cannot be read (%v)", err)
	}
	if !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return refuse(real, "a directory, not a regular file")
		}
		return refuse(real, "not a regular file (mode %s)", fi.Mode())
	}
	return nil
}

// realDir is dir with its symlinks resolved, or dir when it cannot be.
func realDir(dir string) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return r
	}
	return dir
}

// within says whether p is dir or below it (both absolute and clean).
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && filepath.IsLocal(rel)
}

// CompileSchema compiles the job's schema under the layout's root and
// returns it with every file the compile read — the schema file and each
// file its $refs reached — relative to the root, with the sha256 of the
// bytes compiled. Each is checked as a reference (CheckReference). The
// caller compares the digests with the pins: no window between what was
// checked and what was compiled.
func (l Layout) CompileSchema(j *Job) (*schema.Schema, []Ref, map[string]store.Digest, error) {
	sch, err := schema.Compile(l.File(j.Schema))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("job %s: %w", j.Name, err)
	}
	files := map[string]store.Digest{}
	var refs []Ref
	for abs, sum := range sch.Files() {
		rel, err := filepath.Rel(l.Root, abs)
		if err != nil || !filepath.IsLocal(rel) {
			return nil, nil, nil, fmt.Errorf("job %s: schema %s read %s, which is outside the project %s", j.Name, j.Schema, abs, l.Root)
		}
		r := Ref{filepath.ToSlash(rel), "file reached by $ref from " + j.Schema}
		if r.Path == j.Schema {
			r.What = "schema"
		}
		if err := l.CheckReference(j, r); err != nil {
			return nil, nil, nil, err
		}
		files[r.Path] = store.Digest(sum)
		refs = append(refs, r)
	}
	sort.Slice(refs, func(a, b int) bool { return refs[a].Path < refs[b].Path })
	return sch, refs, files, nil
}
