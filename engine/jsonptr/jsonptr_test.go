package jsonptr

import (
	"reflect"
	"testing"
)

func TestPointers(t *testing.T) {
	v := map[string]any{"a/b": []any{"x", map[string]any{"m~n": "y"}}, "": "empty key"}
	cases := []struct {
		ptr  string
		toks []string
		want any
		ok   bool
	}{
		{"", nil, v, true},
		{"/a~1b/0", []string{"a/b", "0"}, "x", true},
		{"/a~1b/1/m~0n", []string{"a/b", "1", "m~n"}, "y", true},
		{"/", []string{""}, "empty key", true},
		{"/a~1b/2", []string{"a/b", "2"}, nil, false},
		{"/a~1b/-1", []string{"a/b", "-1"}, nil, false},
		{"/nope", []string{"nope"}, nil, false},
	}
	for _, tc := range cases {
		toks := Split(tc.ptr)
		if !reflect.DeepEqual(toks, tc.toks) {
			t.Errorf("Split(%q) = %q, want %q", tc.ptr, toks, tc.toks)
		}
		if tc.ptr != "" && Join(toks) != tc.ptr {
			t.Errorf("Join(Split(%q)) = %q", tc.ptr, Join(toks))
		}
		got, ok := Get(v, toks)
		if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("Get(%q) = %v, %v; want %v, %v", tc.ptr, got, ok, tc.want, tc.ok)
		}
	}
	if Escape("~/") != "~0~1" || Unescape("~0~1") != "~/" || Unescape("~01") != "~1" {
		t.Error("escaping is not RFC 6901's")
	}
}
