package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestCellIsOneCell: a reason with a tab or a newline stays one cell of
// one row in a table.
func TestCellIsOneCell(t *testing.T) {
	var b strings.Builder
	w := newTable(&b)
	fmt.Fprintf(w, "%s\t%s\n", "1", cell("reason\twith a tab\nand a newline"))
	fmt.Fprintf(w, "%s\t%s\n", "22", cell("short"))
	w.Flush()
	if got, want := b.String(), "1   reason with a tab and a newline\n22  short\n"; got != want {
		t.Errorf("table:\n%q\nwant\n%q", got, want)
	}
}

// TestJSONArrayPrintsAsPrintJSON: a list printed an element at a time is
// byte for byte the list printed whole, empty, of one, and of several
// elements with nested arrays, objects and characters HTML escapes.
func TestJSONArrayPrintsAsPrintJSON(t *testing.T) {
	type elem struct {
		Name   string         `json:"name"`
		Tags   []string       `json:"tags"`
		Nested map[string]any `json:"nested,omitempty"`
	}
	all := []elem{
		{Name: "a <b> & c", Tags: []string{"x", "y"}},
		{Name: "", Tags: []string{}, Nested: map[string]any{"k": []any{1, "two", map[string]any{}}, "e": []any{}}},
		{Name: "line\nbreak\u2028", Tags: nil},
	}
	for n := 0; n <= len(all); n++ {
		var whole, streamed bytes.Buffer
		list := all[:n]
		if err := (&app{s: &streams{out: &whole}}).printJSON(list); err != nil {
			t.Fatal(err)
		}
		ja := (&app{s: &streams{out: &streamed}}).newJSONArray()
		for _, e := range list {
			if err := ja.add(e); err != nil {
				t.Fatal(err)
			}
		}
		if err := ja.end(); err != nil {
			t.Fatal(err)
		}
		if whole.String() != streamed.String() {
			t.Errorf("%d elements: printed a row at a time\n%s\nwhole\n%s", n, streamed.String(), whole.String())
		}
	}
}
