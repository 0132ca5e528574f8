package main

import (
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
