package project

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/normalize"
	"go.yaml.in/yaml/v3"
)

// Job is a job spec: one kind of input, its contract, and where it comes from.
type Job struct {
	Name           string `yaml:"name"`
	Source         string `yaml:"source"`
	Classification string `yaml:"classification"`
	Format         string `yaml:"format"`
	// CSV is the dialect of a csv input: delimiter, quote character,
	// whether the first row is a header (and the column names when not).
	CSV *CSVDialect `yaml:"csv"`
	// Outputs are further renderings of the verified records, beside
	// verified.jsonl (which is always written: lineage, trace and export
	// read it): "parquet" writes verified.parquet.
	Outputs []string `yaml:"outputs"`
	Schema  string   `yaml:"schema"`
	// Normalize is the Unicode boundary's profile: which fields are
	// identifiers, free text or single-line, and the actions per hazard.
	Normalize normalize.Config `yaml:"normalize"`
	// Validators run, in order, on every record that passed the schema.
	Validators []ValidatorSpec `yaml:"validators"`
	// Sources are the inboxes the gate (pawl watch, pawl serve) picks
	// files up from, each run as a batch of this job, and where each
	// source's notices go.
	Sources []SourceSpec `yaml:"sources"`

	// Path is the spec's path relative to the project root (slash-separated).
	Path string `yaml:"-"`
}

var (
	jobNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	classRE   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
)

// JobPath maps a job name (or a path to a spec) to the spec's path relative
// to the project root.
func JobPath(root, job string) (string, error) {
	if strings.ContainsAny(job, `/\`) || strings.HasSuffix(job, ".yaml") || strings.HasSuffix(job, ".yml") {
		abs, err := filepath.Abs(job)
		if err != nil {
			return "", err
		}
		rel, err := filepath.Rel(root, abs)
		if err != nil || strings.HasPrefix(rel, "..") {
			return "", fmt.Errorf("job spec %s is outside the project %s: job specs live in jobs/", job, root)
		}
		return filepath.ToSlash(rel), nil
	}
	return "jobs/" + job + ".yaml", nil
}

// LoadJob reads and checks the job spec at rel (relative to root). Unknown
// keys are errors that name the key and the file.
func LoadJob(root, rel string) (*Job, error) {
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if errors.Is(err, os.ErrNotExist) {
		known, _ := ListJobs(root)
		hint := "no jobs are defined yet"
		if len(known) > 0 {
			hint = "known jobs: " + strings.Join(known, ", ")
		}
		return nil, fmt.Errorf("unknown job: %s does not exist (%s)", rel, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read job spec: %w", err)
	}
	return ParseJob(rel, b)
}

// ParseJob checks a job spec's bytes; rel names the file in errors.
func ParseJob(rel string, b []byte) (*Job, error) {
	var j Job
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&j); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the job spec is empty", rel)
		}
		// yaml's "unmarshal errors:\n  line 6: field x not found in type
		// project.Job" becomes one line per problem, "; "-separated.
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
		msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", " ; ")), " ")
		msg = strings.ReplaceAll(msg, " ; ", "; ")
		return nil, fmt.Errorf("%s: %s", rel, msg)
	}
	j.Path = rel
	var problems []string
	if !jobNameRE.MatchString(j.Name) {
		problems = append(problems, fmt.Sprintf("name %q must be 1-64 of a-z 0-9 . _ - (starting with a letter or digit)", j.Name))
	} else if base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(rel), ".yaml"), ".yml"); base != j.Name {
		problems = append(problems, fmt.Sprintf("name %q must match the file name %q", j.Name, base))
	}
	if strings.TrimSpace(j.Source) == "" {
		problems = append(problems, "source (the source system) is required")
	}
	if !classRE.MatchString(j.Classification) {
		problems = append(problems, fmt.Sprintf("classification %q must be a lower-case word such as internal, confidential or phi", j.Classification))
	}
	switch j.Format {
	case "jsonl", "csv", "parquet":
	default:
		problems = append(problems, fmt.Sprintf("format %q must be jsonl, csv or parquet", j.Format))
	}
	if j.CSV != nil {
		if j.Format != "csv" {
			problems = append(problems, fmt.Sprintf("csv: the dialect is for csv input, and the format is %q: remove csv, or set format: csv", j.Format))
		} else {
			problems = append(problems, j.CSV.check()...)
		}
	}
	seenOut := map[string]bool{}
	for _, o := range j.Outputs {
		switch {
		case o != "parquet":
			problems = append(problems, fmt.Sprintf("outputs: %q is not an output format: the one there is is parquet (verified.jsonl is always written)", o))
		case seenOut[o]:
			problems = append(problems, fmt.Sprintf("outputs: %q is listed twice", o))
		}
		seenOut[o] = true
	}
	if j.Schema == "" {
		problems = append(problems, "schema (the path of a JSON Schema file) is required")
	} else if !insideProject(j.Schema) {
		problems = append(problems, fmt.Sprintf("schema %q must be a path inside the project", j.Schema))
	}
	for _, v := range j.Validators {
		problems = append(problems, v.check()...)
	}
	problems = append(problems, checkSources(j.Sources)...)
	if err := j.Normalize.Validate(); err != nil {
		problems = append(problems, "normalize: "+err.Error())
	}
	for _, f := range j.Normalize.ReferenceFiles() {
		if !insideProject(f) {
			problems = append(problems, fmt.Sprintf("normalize reference file %q must be a path inside the project", f))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: %s", rel, strings.Join(problems, "; "))
	}
	j.Schema = filepath.ToSlash(filepath.Clean(filepath.FromSlash(j.Schema)))
	return &j, nil
}

// CSVDialect is a job's `csv:` block. Every field is optional; the zero
// dialect is RFC 4180 with a header row: comma, double quote.
type CSVDialect struct {
	// Delimiter separates cells: one ASCII character, e.g. ";" for EU
	// exports or "\t" for tab-separated files. Default ",".
	Delimiter string `yaml:"delimiter"`
	// Quote encloses a cell holding the delimiter, the quote or a line
	// break (doubled inside): one ASCII character. Default '"'.
	Quote string `yaml:"quote"`
	// Header says whether the first row names the columns. Default true.
	Header *bool `yaml:"header"`
	// Columns names the columns of a file without a header row, in order;
	// required when header is false, refused otherwise.
	Columns []string `yaml:"columns"`
}

// Delim is the delimiter byte (',' by default).
func (d *CSVDialect) Delim() byte {
	if d == nil || d.Delimiter == "" {
		return ','
	}
	return d.Delimiter[0]
}

// QuoteChar is the quote byte ('"' by default).
func (d *CSVDialect) QuoteChar() byte {
	if d == nil || d.Quote == "" {
		return '"'
	}
	return d.Quote[0]
}

// HasHeader says whether the first row is a header (true by default).
func (d *CSVDialect) HasHeader() bool { return d == nil || d.Header == nil || *d.Header }

func (d *CSVDialect) check() []string {
	var problems []string
	char := func(key, v string) bool {
		switch {
		case v == "":
			return true
		case len(v) != 1 || v[0] >= 0x80:
			problems = append(problems, fmt.Sprintf("csv: %s %q must be one ASCII character, e.g. \";\" or \"\\t\"", key, v))
		case v[0] == '\n' || v[0] == '\r':
			problems = append(problems, fmt.Sprintf("csv: %s cannot be a line break: rows end at line breaks", key))
		case v[0] < 0x20 && v[0] != '\t' || v[0] == 0x7f:
			problems = append(problems, fmt.Sprintf("csv: %s %q is a control character: use a printable character or a tab", key, v))
		default:
			return true
		}
		return false
	}
	okD, okQ := char("delimiter", d.Delimiter), char("quote", d.Quote)
	if okD && okQ && d.Delim() == d.QuoteChar() {
		problems = append(problems, fmt.Sprintf("csv: the delimiter and the quote are both %q: they must differ", string(d.Delim())))
	}
	if d.HasHeader() {
		if len(d.Columns) > 0 {
			problems = append(problems, "csv: columns names the columns of a file without a header: set header: false, or remove columns")
		}
		return problems
	}
	if len(d.Columns) == 0 {
		problems = append(problems, "csv: header is false, so columns must name the columns in order")
	}
	seen := map[string]bool{}
	for _, c := range d.Columns {
		switch {
		case c == "":
			problems = append(problems, "csv: columns: a column name is empty")
		case seen[c]:
			problems = append(problems, fmt.Sprintf("csv: columns: %q is listed twice", c))
		}
		seen[c] = true
	}
	return problems
}

func insideProject(p string) bool {
	c := filepath.Clean(filepath.FromSlash(p))
	return !filepath.IsAbs(c) && c != ".." && !strings.HasPrefix(c, ".."+string(filepath.Separator))
}

// References lists the files the job spec names, relative to the project
// root: the spec itself, its schema, the normalization reference files and
// the lookup files (Refs says what each is for). Each is pinned, and so is
// every file the schema reaches through $ref (Layout.CompileSchema).
func (j *Job) References() []string {
	var refs []string
	for _, r := range j.Refs() {
		refs = append(refs, r.Path)
	}
	return refs
}

// CleanRef is the one spelling of a file a job references, as it is
// pinned: slash-separated, relative to the project root, without "./" or
// redundant separators.
func CleanRef(path string) string { return filepath.ToSlash(filepath.Clean(filepath.FromSlash(path))) }

// PluginRefs lists the pins of the job's plugins ("plugin:name@version").
func (j *Job) PluginRefs() []string {
	var out []string
	for _, v := range j.Validators {
		out = append(out, lockfile.PluginKey(v.Plugin))
	}
	return out
}

// ListJobs returns the names of the job specs in jobs/.
func ListJobs(root string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(root, "jobs", "*.yaml"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range m {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".yaml"))
	}
	sort.Strings(names)
	return names, nil
}

// ValidatorSpec is one entry of a job's `validators:` list.
type ValidatorSpec struct {
	// Plugin is "name@version"; the module is the one pinned for it.
	Plugin string `yaml:"plugin"`
	// Config is the plugin's configuration, checked against the schema in
	// its manifest.
	Config map[string]any `yaml:"config"`
	// Fields binds a manifest field to another JSON pointer than its default.
	Fields map[string]string `yaml:"fields"`
	// Lookups names the file (pinned like every input) for each lookup the
	// plugin declares.
	Lookups map[string]string `yaml:"lookups"`
}

func (v ValidatorSpec) check() []string {
	var problems []string
	name, version, ok := strings.Cut(v.Plugin, "@")
	if !ok || name == "" || version == "" {
		problems = append(problems, fmt.Sprintf("validators: plugin %q must be NAME@VERSION (see `pawl plugin list`)", v.Plugin))
	}
	for f, ptr := range v.Fields {
		if ptr != "" && !strings.HasPrefix(ptr, "/") {
			problems = append(problems, fmt.Sprintf("validators: %s: field %s: %q is not a JSON pointer (it starts with /)", v.Plugin, f, ptr))
		}
	}
	for l, f := range v.Lookups {
		if !insideProject(f) {
			problems = append(problems, fmt.Sprintf("validators: %s: lookup %s: %q must be a path inside the project", v.Plugin, l, f))
		}
	}
	return problems
}

// SourceSpec is one entry of a job's `sources:` list: a landing directory
// (the inbox) the gate picks complete files up from, and where the
// source's notices (quarantine reports) go.
type SourceSpec struct {
	// Name names the source on record; unique in the job.
	Name string `yaml:"name"`
	// Inbox is the landing directory, relative to the project root unless
	// absolute. It must exist; processed/ and failed/ are made inside it.
	Inbox string `yaml:"inbox"`
	// Complete says how a file is known to be whole: "rename" (the
	// default: a regular file whose name does not start with "." nor end
	// in .part or .tmp, landed by an atomic rename) or "done-marker"
	// (NAME is complete once NAME.done exists).
	Complete string `yaml:"complete"`
	// Notify is where the source's notices go: a file:// or https://
	// directory URL ending in "/", decided by the egress policy like any
	// export. Empty: no notices.
	Notify string `yaml:"notify"`
	// NotifyRecords asks for the quarantined records' bytes in the
	// notices; they are sent only when the egress policy also allows
	// them for the destination (notice_records).
	NotifyRecords bool `yaml:"notify_records"`
}

// The ways a source's file is known to be complete.
const (
	CompleteRename     = "rename"
	CompleteDoneMarker = "done-marker"
)

var sourceNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// CompleteMode is the source's complete mode, with the default.
func (s SourceSpec) CompleteMode() string {
	if s.Complete == "" {
		return CompleteRename
	}
	return s.Complete
}

// InboxDir is the source's inbox as an absolute path.
func (s SourceSpec) InboxDir(root string) string {
	if filepath.IsAbs(s.Inbox) {
		return filepath.Clean(s.Inbox)
	}
	return filepath.Join(root, filepath.FromSlash(s.Inbox))
}

func checkSources(ss []SourceSpec) []string {
	var problems []string
	names, inboxes := map[string]bool{}, map[string]string{}
	for i, s := range ss {
		what := fmt.Sprintf("sources[%d]", i)
		if !sourceNameRE.MatchString(s.Name) {
			problems = append(problems, fmt.Sprintf("%s: name %q must be 1-64 of a-z 0-9 . _ - (starting with a letter or digit)", what, s.Name))
		} else {
			if names[s.Name] {
				problems = append(problems, fmt.Sprintf("%s: name %q is used by another source of the job: names must be unique", what, s.Name))
			}
			names[s.Name] = true
			what = "sources: " + s.Name
		}
		if strings.TrimSpace(s.Inbox) == "" {
			problems = append(problems, what+": inbox (the landing directory) is required")
		} else {
			c := filepath.Clean(filepath.FromSlash(s.Inbox))
			if other, ok := inboxes[c]; ok {
				problems = append(problems, fmt.Sprintf("%s: inbox %q is also the inbox of source %q: each source needs its own", what, s.Inbox, other))
			}
			inboxes[c] = s.Name
		}
		switch s.Complete {
		case "", CompleteRename, CompleteDoneMarker:
		default:
			problems = append(problems, fmt.Sprintf("%s: complete %q must be rename or done-marker", what, s.Complete))
		}
		scheme := strings.HasPrefix(s.Notify, "file://") || strings.HasPrefix(s.Notify, "https://")
		if s.Notify != "" && (!scheme || !strings.HasSuffix(s.Notify, "/")) {
			problems = append(problems, fmt.Sprintf("%s: notify %q must be a file:// or https:// directory URL ending in \"/\"", what, s.Notify))
		}
		if s.NotifyRecords && s.Notify == "" {
			problems = append(problems, what+": notify_records is set but notify names no destination")
		}
	}
	return problems
}

// CheckInboxes checks that each source's inbox exists and is a directory,
// and that no two sources share one (after symlinks).
func (j *Job) CheckInboxes(root string) error {
	var problems []string
	seen := map[string]string{}
	for _, s := range j.Sources {
		dir := s.InboxDir(root)
		fi, err := os.Stat(dir)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("source %s: inbox %s: %v: create the directory, or fix sources[].inbox", s.Name, dir, errors.Unwrap(err)))
			continue
		case !fi.IsDir():
			problems = append(problems, fmt.Sprintf("source %s: inbox %s is not a directory", s.Name, dir))
			continue
		}
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			real = dir
		}
		if other, ok := seen[real]; ok {
			problems = append(problems, fmt.Sprintf("source %s: inbox %s is also the inbox of source %s: each source needs its own", s.Name, dir, other))
		}
		seen[real] = s.Name
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", j.Path, strings.Join(problems, "; "))
	}
	return nil
}
