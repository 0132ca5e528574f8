// Command gen writes plugins/c/unicode.h (plugins/internal/cgen):
// `go generate ./plugins` runs it.
package main

import (
	"fmt"
	"os"

	"github.com/pawl-dev/pawl/plugins/internal/cgen"
)

func main() {
	out := "unicode.h"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := os.WriteFile(out, cgen.Header(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
