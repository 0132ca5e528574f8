package engine_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocumentedTestsExist: every test the documentation cites as evidence
// (docs/part11.md maps clauses to tests) exists, so a renamed or deleted
// test cannot leave a claim without its evidence.
func TestDocumentedTestsExist(t *testing.T) {
	root := filepath.Join("..")
	defined := map[string]bool{}
	def := regexp.MustCompile(`(?m)^func (Test\w+|Fuzz\w+|Benchmark\w+|Example\w*)\(`)
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		// A plugin skeleton's tests (plugins/kit/templates) are test files
		// of the skeleton pawl plugin new writes, run by cmd/pawl's
		// TestPluginKitThreeCommands.
		if strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, "_test.go.tmpl") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range def.FindAllStringSubmatch(string(b), -1) {
				defined[m[1]] = true
			}
		}
		return nil
	})
	cited := regexp.MustCompile("`((?:Test|Fuzz|Benchmark)[A-Z]\\w*)`")
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"), filepath.Join(root, "SECURITY.md"), filepath.Join(root, "BENCHMARKS.md"))
	n := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range cited.FindAllStringSubmatch(string(b), -1) {
			n++
			if !defined[m[1]] {
				t.Errorf("%s cites %s, which no test file defines", doc, m[1])
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d tests cited in the docs: is the pattern right?", n)
	}
}
