package project

import (
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
