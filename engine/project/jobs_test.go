package project

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const jobHead = "name: feed\nsource: s\nclassification: internal\nschema: schemas/s.json\n"

// TestJobFormatsAndDialects: the formats, the CSV dialect and the outputs
// a job spec may name, and a one-line refusal naming the key for each
// mistake.
func TestJobFormatsAndDialects(t *testing.T) {
	ok := []struct{ spec, delim, quote string }{
		{"format: parquet\noutputs: [parquet]\n", ",", `"`},
		{"format: csv\ncsv: {delimiter: \";\"}\n", ";", `"`},
		{"format: csv\ncsv: {delimiter: \"\\t\", quote: \"'\"}\n", "\t", "'"},
		{"format: csv\ncsv: {header: false, columns: [a, b]}\n", ",", `"`},
	}
	for _, c := range ok {
		j, err := ParseJob("jobs/feed.yaml", []byte(jobHead+c.spec))
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		if string(j.CSV.Delim()) != c.delim || string(j.CSV.QuoteChar()) != c.quote {
			t.Errorf("%q: delimiter %q quote %q", c.spec, j.CSV.Delim(), j.CSV.QuoteChar())
		}
	}
	bad := []struct{ spec, want string }{
		{"format: xlsx\n", `format "xlsx" must be jsonl, csv or parquet`},
		{"format: jsonl\noutputs: [csv]\n", `outputs: "csv" is not an output format`},
		{"format: jsonl\noutputs: [parquet, parquet]\n", `outputs: "parquet" is listed twice`},
		{"format: jsonl\ncsv: {delimiter: \";\"}\n", "csv: the dialect is for csv input"},
		{"format: csv\ncsv: {delimiter: \";;\"}\n", `csv: delimiter ";;" must be one ASCII character`},
		{"format: csv\ncsv: {delimiter: \"§\"}\n", "must be one ASCII character"},
		{"format: csv\ncsv: {delimiter: \"\\n\"}\n", "csv: delimiter cannot be a line break"},
		{"format: csv\ncsv: {quote: \"\\u0001\"}\n", "is a control character"},
		{"format: csv\ncsv: {delimiter: \"'\", quote: \"'\"}\n", "the delimiter and the quote are both \"'\""},
		{"format: csv\ncsv: {header: false}\n", "header is false, so columns must name the columns"},
		{"format: csv\ncsv: {columns: [a]}\n", "columns names the columns of a file without a header"},
		{"format: csv\ncsv: {header: false, columns: [a, a]}\n", `columns: "a" is listed twice`},
		{"format: csv\ncsv: {separator: \";\"}\n", "field separator not found"},
	}
	for _, c := range bad {
		_, err := ParseJob("jobs/feed.yaml", []byte(jobHead+c.spec))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "jobs/feed.yaml") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v\nwant one line naming jobs/feed.yaml and %q", c.spec, err, c.want)
		}
	}
}

// TestJobSources: a job's sources are checked with the rest of the spec,
// each mistake a one-line refusal naming the file and the source; the
// inboxes are checked on disk by CheckInboxes.
func TestJobSources(t *testing.T) {
	spec := jobHead + "format: jsonl\nsources:\n" +
		"  - {name: lab-a, inbox: inbox/lab-a, notify: \"file:///srv/notices/\"}\n" +
		"  - {name: lab-b, inbox: inbox/lab-b, complete: done-marker}\n"
	j, err := ParseJob("jobs/feed.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Sources) != 2 || j.Sources[0].CompleteMode() != CompleteRename || j.Sources[1].CompleteMode() != CompleteDoneMarker {
		t.Fatalf("sources: %+v", j.Sources)
	}
	root := t.TempDir()
	if err := j.CheckInboxes(root); err == nil || !strings.Contains(err.Error(), "source lab-a: inbox "+filepath.Join(root, "inbox/lab-a")) {
		t.Errorf("missing inbox: %v", err)
	}
	os.MkdirAll(filepath.Join(root, "inbox/lab-a"), 0o755)
	os.WriteFile(filepath.Join(root, "inbox/lab-b"), nil, 0o644)
	if err := j.CheckInboxes(root); err == nil || !strings.Contains(err.Error(), "inbox/lab-b is not a directory") || strings.Contains(err.Error(), "lab-a") {
		t.Errorf("inbox a file: %v", err)
	}
	os.Remove(filepath.Join(root, "inbox/lab-b"))
	os.Symlink("lab-a", filepath.Join(root, "inbox/lab-b"))
	if err := j.CheckInboxes(root); err == nil || !strings.Contains(err.Error(), "is also the inbox of source lab-a") {
		t.Errorf("one inbox for two sources through a symlink: %v", err)
	}

	bad := []struct{ sources, want string }{
		{"  - {name: a, inbox: in/a, colour: red}\n", "field colour not found"},
		{"  - {name: a, inbox: in/a}\n  - {name: a, inbox: in/b}\n", `sources[1]: name "a" is used by another source`},
		{"  - {name: a, inbox: in/a}\n  - {name: b, inbox: ./in/a/}\n", `sources: b: inbox "./in/a/" is also the inbox of source "a"`},
		{"  - {name: a}\n", "sources: a: inbox (the landing directory) is required"},
		{"  - {name: A b, inbox: in/a}\n", `sources[0]: name "A b" must be`},
		{"  - {name: a, inbox: in/a, complete: size-stable}\n", `complete "size-stable" must be rename or done-marker`},
		{"  - {name: a, inbox: in/a, notify: \"ftp://x/\"}\n", `notify "ftp://x/" must be a file:// or https:// directory URL`},
		{"  - {name: a, inbox: in/a, notify: \"https://x/hook\"}\n", `must be a file:// or https:// directory URL ending in "/"`},
		{"  - {name: a, inbox: in/a, notify_records: true}\n", "notify_records is set but notify names no destination"},
	}
	for _, c := range bad {
		_, err := ParseJob("jobs/feed.yaml", []byte(jobHead+"format: jsonl\nsources:\n"+c.sources))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "jobs/feed.yaml") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v\nwant one line naming jobs/feed.yaml and %q", c.sources, err, c.want)
		}
	}
}
