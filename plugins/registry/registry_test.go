package registry

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
	"github.com/pawl-dev/pawl/plugins/pdk"
)

// devices has a comment, CRLF and LF lines, spaces and tabs around ids, a
// blank line, an indented comment, an id with a '#' inside, ids that
// differ only in case and a non-ASCII id.
const devices = "# device registry\r\n" +
	"AB-100001\r\n" +
	"  CD-100002  \n" +
	"\n" +
	"EF-100003\n" +
	"\tGH-100004\t\r\n" +
	"   # an indented comment\n" +
	"A#B\n" +
	"Émile-1\n" +
	"x-1\n" +
	"X-2" // no newline at the end

// absent stands for a record without an id.
const absent = "\x00absent"

func batch(fields []sandbox.Field, ids []string) *sandbox.Batch {
	b := sandbox.NewBatch(fields, len(ids))
	for i, id := range ids {
		if id != absent {
			b.SetString(colID, i, id)
		}
	}
	return b
}

func unknown(id string) string {
	return "registry.unknown on id: " + pdk.QuoteValue(id) + " is not in the registry"
}

// longID is 6,001 bytes: its message quotes its first 199 (the 200th byte
// is inside an "é"), then says how long it is, and stays under the ABI's
// 4096 bytes, so that it costs the record, not the batch.
var longID = "a" + strings.Repeat("é", 3000)

// registryCases cover the one rule (registry.unknown), the config field,
// and every way a line of the registry file is read.
var registryCases = []struct {
	name   string
	config string
	cases  [][2]string // id, want
}{
	{"case-sensitive", "", [][2]string{
		{"AB-100001", ""},
		{"CD-100002", ""}, // the spaces around it in the file are not part of it
		{"EF-100003", ""},
		{"GH-100004", ""},
		{"A#B", ""}, // only a line that starts with '#' is a comment
		{"Émile-1", ""},
		{"x-1", ""},
		{"X-2", ""}, // the last line needs no newline
		{"ab-100001", unknown("ab-100001")},
		{longID, unknown(longID)},
		{"émile-1", unknown("émile-1")},
		{"X-1", unknown("X-1")},
		{" AB-100001", unknown(" AB-100001")}, // a value is not trimmed
		{"AB-100001\r", unknown("AB-100001\r")},
		{"AB-10000", unknown("AB-10000")},
		{"", unknown("")}, // present but empty
		{"# device registry", unknown("# device registry")},
		{"# an indented comment", unknown("# an indented comment")},
		{"tab\there \"quoted\"", unknown("tab\there \"quoted\"")},
		{absent, ""},
	}},
	{"case_insensitive false, spelled out", `{"case_insensitive": false}`, [][2]string{
		{"AB-100001", ""},
		{"ab-100001", unknown("ab-100001")},
	}},
	{"case_insensitive", `{"case_insensitive": true}`, [][2]string{
		{"ab-100001", ""},
		{"Cd-100002", ""},
		{"AB-100001", ""},
		{"ÉMILE-1", ""}, // folded beyond ASCII
		{"émile-1", ""},
		{"X-1", ""},
		{"a#b", ""},
		{"GH-1", unknown("GH-1")}, // the reason quotes the value as given
		{"Zz-9", unknown("Zz-9")},
		{"", unknown("")},
		{absent, ""},
	}},
	{"an empty batch", "", nil},
}

func TestRegistry(t *testing.T) {
	lookup := map[string][]byte{"registry": []byte(devices)}
	for _, impl := range plugintest.Impls(t, "registry.wasm", func() pdk.Plugin { return New() }) {
		t.Run(impl.Name, func(t *testing.T) {
			for _, tc := range registryCases {
				var ids, want []string
				for _, c := range tc.cases {
					ids, want = append(ids, c[0]), append(want, c[1])
				}
				got := plugintest.Run(t, impl, tc.config, lookup, batch(impl.Manifest.Fields, ids))
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("%s: %q:\n got %q\nwant %q", tc.name, ids[i], got[i], want[i])
					}
				}
			}
		})
	}
}

func TestRegistryRefuses(t *testing.T) {
	reg := func(s string) map[string][]byte { return map[string][]byte{"registry": []byte(s)} }
	cases := []struct {
		name   string
		config string
		lookup map[string][]byte
		want   string
		// wantWasm, when set, is what the sandbox says instead: it
		// checks the lookups against the manifest before the guest's init.
		wantWasm string
	}{
		{"no lookup", "", nil, `registry: no lookup file named "registry"`, `needs the lookup file "registry"`},
		{"another lookup", "", map[string][]byte{"devices": []byte("A\n")}, `registry: no lookup file named "registry"`, `needs the lookup file "registry"`},
		{"only comments", "", reg("# nothing\n\n"), "registry: the lookup file lists no ids", ""},
		{"empty", "", reg(""), "the lookup file lists no ids", ""},
		{"only blanks", "", reg("  \n\t\r\n\r\n"), "the lookup file lists no ids", ""},
		{"twice", "", reg("A\nB\nA\n"), `registry: line 3: id "A" listed twice`, ""},
		{"twice after trimming", "", reg("A\r\n\r\n# c\r\nB\r\n A \r\n"), `registry: line 5: id "A" listed twice`, ""},
		{"twice when folded", `{"case_insensitive": true}`, reg("Ab\nB\naB\n"), `registry: line 3: id "ab" listed twice`, ""},
		{"not UTF-8", "", reg("A\n\xff\n"), "registry: the lookup file is not valid UTF-8", ""},
		{"not UTF-8 in a comment", "", reg("# \xc3\nA\n"), "not valid UTF-8", ""},
		{"unknown field", `{"fold": true}`, reg("A\n"), `registry config: json: unknown field "fold"`, ""},
		{"not a bool", `{"case_insensitive": "yes"}`, reg("A\n"), "registry config: json: cannot unmarshal string", ""},
	}
	for _, impl := range plugintest.Impls(t, "registry.wasm", func() pdk.Plugin { return New() }) {
		t.Run(impl.Name, func(t *testing.T) {
			for _, tc := range cases {
				want := tc.want
				if impl.Name == "wasm" && tc.wantWasm != "" {
					want = tc.wantWasm
				}
				_, err := impl.New(t, tc.config, tc.lookup)
				if sandbox.KindOf(err) != sandbox.KindConfig || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "registry@1.1.0") {
					t.Errorf("%s: want a config error containing %q, got %v", tc.name, want, err)
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, fold := range []bool{false, true} {
		ids, err := Parse([]byte(devices), fold)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"A#B", "AB-100001", "CD-100002", "EF-100003", "GH-100004", "X-2", "x-1", "Émile-1"}
		if fold {
			want = []string{"a#b", "ab-100001", "cd-100002", "ef-100003", "gh-100004", "x-1", "x-2", "émile-1"}
		}
		if got := slices.Sorted(maps.Keys(ids)); !slices.Equal(got, want) {
			t.Errorf("fold %v: %q, want %q", fold, got, want)
		}
	}
	// Case-sensitive, ids differing only in case are two ids.
	if ids, err := Parse([]byte("A\na\n"), false); err != nil || len(ids) != 2 {
		t.Errorf("%v %v", ids, err)
	}
}
