package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecoderBombsAreRefusedBeforeCompiling: modules of a few bytes that
// declare counts wazero would allocate for before reading the entries
// (each of these ends the process with "fatal error: runtime: out of
// memory" when wazero compiles it, or expands four billion locals one by
// one) are refused by the scanner, naming the section, before Load
// compiles anything.
func TestDecoderBombsAreRefusedBeforeCompiling(t *testing.T) {
	manifest := `{"abi":1,"name":"bomb","version":"1","mode":"stateless","fields":[]}`
	mod := func(sections ...byte) []byte {
		return AppendCustomSection(append(append([]byte{}, wasmHeader...), sections...), ManifestSection, []byte(manifest))
	}
	custom := func(name string, content ...byte) []byte {
		return AppendCustomSection(nil, name, content)
	}
	for name, tc := range map[string]struct {
		wasm []byte
		want string
	}{
		"functions":                    {mod(0x03, 0x06, 0xff, 0xff, 0xff, 0xff, 0x07, 0x0b), "section 3 at byte 8: entries: 2147483647 declared, only 1 bytes left in the section"},
		"bodies":                       {mod(0x0a, 0x06, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00), "section 10 at byte 8: function bodies: 4294967295 declared"},
		"locals":                       {mod(0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x0b, 0x01, 0x09, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0x0b, 0x00), "more than 50000 locals"},
		"body size":                    {mod(0x0a, 0x06, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f), "function body 0 of 4294967295 bytes"},
		"params":                       {mod(0x01, 0x07, 0x01, 0x60, 0xff, 0xff, 0xff, 0xff, 0x0f), "type 0: parameters: 4294967295 declared"},
		"ref param":                    {mod(0x01, 0x0a, 0x01, 0x60, 0x01, 0x63, 0x70, 0xff, 0xff, 0xff, 0xff, 0x0f), "type 0: results: 4294967295 declared"},                // (ref null func) skipped whole
		"after a group":                {mod(0x01, 0x0c, 0x02, 0x4e, 0x01, 0x60, 0x00, 0x00, 0x60, 0xff, 0xff, 0xff, 0xff, 0x0f), "type 1: parameters: 4294967295 declared"}, // a group of one, then a type
		"group of two":                 {mod(0x01, 0x0c, 0x01, 0x4e, 0x02, 0x60, 0x00, 0x00, 0x60, 0xff, 0xff, 0xff, 0xff, 0x0f), "type 0.1: parameters: 4294967295 declared"},
		"second element":               {mod(0x09, 0x0c, 0x02, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00, 0x01, 0x00, 0xff, 0xff, 0x7f), "element segment 1: 2097151 declared"},
		"locals summed":                {mod(0x0a, 0x09, 0x01, 0x07, 0x02, 0x01, 0x7f, 0xd0, 0x86, 0x03, 0x7f), "function body 0 declares more than 50000 locals"}, // 1 + 50000
		"flags 7":                      {mod(0x09, 0x07, 0x01, 0x07, 0x70, 0xff, 0xff, 0xff, 0x7f), "element segment 0: 268435455 declared"},                       // the last kind of segment is walked
		"function names, the second":   {append(mod(), custom("name", 0x01, 0x0a, 0x02, 0x00, 0x01, 'f', 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f)...), "function names: name of 4294967295 bytes"},
		"local names, the second":      {append(mod(), custom("name", 0x02, 0x0c, 0x02, 0x00, 0x01, 0x00, 0x01, 'a', 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f)...), "local names 1: 4294967295 declared"},
		"size of six LEB128 bytes":     {append(append([]byte{}, wasmHeader...), 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00), "section at byte 8: size: LEB128 u32 too long"},
		"a reference type's heap type": {mod(0x09, 0x08, 0x01, 0x05, 0x63, 0x70, 0xff, 0xff, 0xff, 0x7f), "element segment 0: 268435455 declared"}, // kind 5: (ref null func), then the bomb
		"section past the module":      {append(append([]byte{}, wasmHeader...), 0x01, 0x05, 0x00), "section 1 at byte 8: 5 bytes declared, 1 left"},
		"rec group":                    {mod(0x01, 0x09, 0x01, 0x4e, 0x01, 0x60, 0xff, 0xff, 0xff, 0xff, 0x0f), "type 0.0: parameters: 4294967295 declared"},
		"export name":                  {mod(0x07, 0x06, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f), "export 0: name of 4294967295 bytes"},
		"element vector":               {mod(0x09, 0x07, 0x01, 0x01, 0x00, 0xff, 0xff, 0xff, 0x0f), "element segment 0: 33554431 declared"},
		"data":                         {mod(0x0b, 0x0a, 0x01, 0x00, 0x41, 0x00, 0x0b, 0xff, 0xff, 0xff, 0xff, 0x0f), "data segment 0 of 4294967295 bytes"},
		"past the end":                 {mod(0x0b, 0x02, 0x01, 0x01), "runs past the end of the section"},
		// an i32.const of 11 LEB128 bytes (10 is the most a 64-bit value takes)
		"long LEB128":    {mod(0x0b, 0x10, 0x01, 0x00, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b, 0x00), "LEB128 too long"},
		"function names": {append(mod(), custom("name", 0x01, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f)...), `"name": function names: 4294967295 declared`},
		"local names":    {append(mod(), custom("name", 0x02, 0x07, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f)...), "local names 0: 4294967295 declared"},
		// a subsection that claims fewer bytes than it holds: wazero would
		// read on past the section's end
		"understated": {append(mod(), custom("name", 0x00, 0x00, 0x01, 'm')...), "run past the end of the section"},
	} {
		_, err := ReadManifest(tc.wasm)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want an error containing %q, got %v", name, tc.want, err)
		}
	}
	// Exactly the declarations a body has are read: one that ends after
	// them (no code follows) is not read past.
	if _, err := ReadManifest(mod(0x0a, 0x05, 0x01, 0x03, 0x01, 0x01, 0x7f)); err != nil {
		t.Errorf("a body of one declaration and no code: %v", err)
	}
	if _, err := ReadManifest(mod(0x0a, 0x07, 0x01, 0x05, 0x01, 0xd0, 0x86, 0x03, 0x7f)); err != nil {
		t.Errorf("a body of exactly 50000 locals: %v", err)
	}
	if _, err := ReadManifest(append(mod(), custom("name", 0x02, 0x06, 0x01, 0x00, 0x01, 0x00, 0x01, 'a')...)); err != nil {
		t.Errorf("a name section naming one local of one function: %v", err)
	}
	rt := newRuntime(t, Config{})
	bomb := mod(0x03, 0x06, 0xff, 0xff, 0xff, 0xff, 0x07, 0x0b)
	if _, err := rt.Load(context.Background(), bomb, Pin(bomb)); err == nil || !strings.Contains(err.Error(), "2147483647 declared") {
		t.Fatalf("Load: %v", err)
	}
}

// TestBoundsWalkFollowsRealModules: every module in the repository (the
// hostile test modules and the first-party plugins, Go-built and
// hand-written) passes the walk, and the walk follows every one of their
// sections to the end rather than giving up on a construct it does not
// know.
func TestBoundsWalkFollowsRealModules(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*.wasm")
	more, _ := filepath.Glob("../../plugins/*/*.wasm")
	for _, p := range append(paths, more...) {
		wasm, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := scanModule(wasm); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		secs, bad := refSections(wasm)
		if bad >= 0 {
			t.Fatalf("%s: unframeable at %d", p, bad)
		}
		for _, s := range secs {
			if s.id == 0 {
				r := &reader{b: s.body}
				if name, _ := r.name(); name == "name" {
					if err := checkNameSection(s.body[r.off:]); err != nil {
						t.Errorf("%s: name section: %v", p, err)
					}
				}
				continue
			}
			r := &reader{b: s.body}
			if err := walkSection(s.id, r); err != nil || r.off != len(s.body) && (s.id != 2 && s.id != 3 && s.id != 4 && s.id != 5 && s.id != 6 && s.id != 13) {
				t.Errorf("%s: section %d at byte %d: walked %d of %d bytes: %v", p, s.id, s.start, r.off, len(s.body), err)
			}
		}
	}
}

// TestScanImportsReadsLimits: a memory import with a maximum is read to
// its end, so the import after it is read as what it is.
func TestScanImportsReadsLimits(t *testing.T) {
	imports := []byte{0x03,
		0x03, 'e', 'n', 'v', 0x03, 'm', 'e', 'm', 0x02, 0x01, 0x01, 0x02, // env.mem: memory, min 1, max 2
		0x03, 'e', 'n', 'v', 0x01, 'g', 0x03, 0x7f, 0x00, // env.g: global, i32, immutable
		0x04, 'p', 'a', 'w', 'l', 0x01, 'f', 0x00, 0x00} // pawl.f: function of type 0
	wasm := append(append(append([]byte{}, wasmHeader...), 0x02, byte(len(imports))), imports...)
	info, err := scanModule(wasm)
	if err != nil {
		t.Fatal(err)
	}
	want := []importEntry{{module: "env", name: "mem", kind: 2}, {module: "env", name: "g", kind: 3}, {module: "pawl", name: "f", kind: 0}}
	if fmt.Sprint(info.imports) != fmt.Sprint(want) {
		t.Fatalf("imports %+v, want %+v", info.imports, want)
	}
	// Cut after the minimum: the maximum its flag promises is missing.
	cut := []byte{0x01, 0x03, 'e', 'n', 'v', 0x03, 'm', 'e', 'm', 0x02, 0x01, 0x01}
	wasm = append(append(append([]byte{}, wasmHeader...), 0x02, byte(len(cut))), cut...)
	if _, err := scanModule(wasm); err == nil || !strings.Contains(err.Error(), "import env.mem") {
		t.Fatalf("a memory import without the maximum its flag promises: %v", err)
	}
}
