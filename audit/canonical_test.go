package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestCanonicalJSON(t *testing.T) {
	cases := []struct{ in, want string }{
		{``, `{}`},
		{`  {}  `, `{}`},
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{"{\n  \"z\": {\"y\": [3, 2, {\"k\": null, \"j\": true}], \"x\": false}\n}", `{"z":{"x":false,"y":[3,2,{"j":true,"k":null}]}}`},
		// Numbers as written: no reformatting, no float rounding.
		{`{"n":1.0,"m":1e3,"l":-0,"k":12345678901234567890123}`, `{"k":12345678901234567890123,"l":-0,"m":1e3,"n":1.0}`},
		// Escapes decoded, then re-escaped the one canonical way.
		{`{"s":"\u0041\/\u00e9<>&\u2028"}`, "{\"s\":\"A/é<>&\u2028\"}"},
		{`{"s":"tab\there\u0001\n\"q\"\\"}`, `{"s":"tab\there\u0001\n\"q\"\\"}`},
		// Keys compare by UTF-8 bytes: "é" (0xC3...) sorts after "z".
		{`{"é":1,"z":2,"Z":3}`, `{"Z":3,"z":2,"é":1}`},
	}
	for _, c := range cases {
		got, err := CanonicalJSON([]byte(c.in))
		if err != nil {
			t.Errorf("CanonicalJSON(%s): %v", c.in, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("CanonicalJSON(%s)\n got %s\nwant %s", c.in, got, c.want)
		}
		again, err := CanonicalJSON(got)
		if err != nil || string(again) != string(got) {
			t.Errorf("not idempotent on %s: %s, %v", got, again, err)
		}
	}
}

func TestCanonicalJSONRefuses(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxDetailsDepth+1) + "1" + strings.Repeat("}", maxDetailsDepth+1)
	cases := map[string]string{
		`[1,2]`:                 "must be a JSON object, got an array",
		`"s"`:                   "got a string",
		`42`:                    "got a number",
		`null`:                  "got null",
		`{"a":1`:                "EOF",
		`{"a":1}{"b":2}`:        "trailing data",
		`{"a":1,"a":2}`:         `duplicate key "a"`,
		`{"a":1,"\u0061":2}`:    `duplicate key "a"`,
		`{"x":{"a":1,"a":1}}`:   `duplicate key "a"`,
		`{"a":01}`:              "invalid",
		`{"a":NaN}`:             "invalid",
		"{\"a\":\"\xff\"}":      "UTF-8",
		`{"a":'single'}`:        "invalid",
		`{a:1}`:                 "invalid",
		deep:                    "nested deeper",
		`{"a":[1,2,]}`:          "invalid",
		`{"a":1,}`:              "invalid",
		`{"a":tru}`:             "invalid",
		`{"a":1} x`:             "trailing data",
		`{"a":"x"} {"b":"y"} `:  "trailing data",
		`{"a":"unterminated}`:   "EOF",
		`{"a":1, "b": [1 2]}`:   "invalid",
		`{"a":{"b":{"c":[}}}}`:  "invalid",
		`{"a":"\x"}`:            "invalid",
		"{\"a\":\"raw\ttab\"}":  "invalid",
		`{"a":"\ud800"} trail`:  "trailing data",
		`{"a":1}]`:              "trailing data",
		`{"":1,"":2}`:           `duplicate key ""`,
		`{"a":-}`:               "invalid",
		`{"a":1.}`:              "invalid",
		`{"a":.5}`:              "invalid",
		`{"a":+1}`:              "invalid",
		`{"a":0x10}`:            "invalid",
		`{"a":Infinity}`:        "invalid",
		`{"a":1e}`:              "invalid",
		`{"a":"\u12"}`:          "invalid",
		`{"a":undefined}`:       "invalid",
		`{"a":1}/*comment*/`:    "trailing data",
		`{"a":1,"b":2,"a":3}`:   `duplicate key "a"`,
		`{"a":[{"b":1,"b":2}]}`: `duplicate key "b"`,
	}
	for in, want := range cases {
		_, err := CanonicalJSON([]byte(in))
		if err == nil {
			t.Errorf("CanonicalJSON(%.40s) succeeded, want error containing %q", in, want)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CanonicalJSON(%.40s) = %v, want error containing %q", in, err, want)
		}
	}
}

// TestHashEncodingGolden pins the documented hash encoding: if this test
// has to change, every existing trail stops verifying.
func TestHashEncodingGolden(t *testing.T) {
	e := Entry{
		Seq:      7,
		Time:     time.Date(2025, 3, 1, 12, 30, 0, 5, time.FixedZone("CET", 3600)),
		Operator: "alice",
		OSUser:   "svc-pawl",
		Action:   ActionBatchCommitted,
		Object:   "batch:42",
		Reason:   `nightly "run" <ok>`,
		Details:  []byte(`{"b":[1,2.50],"a":"x"}`),
		PrevHash: GenesisPrevHash,
	}
	details, err := CanonicalJSON(e.Details)
	if err != nil {
		t.Fatal(err)
	}
	e.Details = details
	const wantPreimage = `[7,"2025-03-01T11:30:00.000000005Z","alice","svc-pawl","batch.committed","batch:42","nightly \"run\" <ok>",{"a":"x","b":[1,2.50]},"sha256:0000000000000000000000000000000000000000000000000000000000000000"]`
	got := hashPreimage(e.Seq, formatTime(e.Time), e.Operator, e.OSUser, e.Action, e.Object, e.Reason, e.Details, e.PrevHash)
	if string(got) != wantPreimage {
		t.Fatalf("preimage\n got %s\nwant %s", got, wantPreimage)
	}
	sum := sha256.Sum256([]byte(wantPreimage))
	if h := ComputeHash(e); h != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Fatalf("ComputeHash = %s", h)
	}
}

func TestDetailsKeyOrderSameHash(t *testing.T) {
	a, err := CanonicalJSON([]byte(`{"rows":12,"file":"in.csv","meta":{"y":1,"x":[true,null]}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := CanonicalJSON([]byte(`{ "meta" : { "x" : [ true , null ] , "y" : 1 } , "file" : "in.csv" , "rows" : 12 }`))
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatalf("%s != %s", a, b)
	}
	e := Entry{Seq: 2, Time: time.Unix(0, 0), Operator: "o", Action: "a", PrevHash: GenesisPrevHash}
	e.Details = a
	ha := ComputeHash(e)
	e.Details = b
	if hb := ComputeHash(e); ha != hb {
		t.Fatalf("hashes differ: %s vs %s", ha, hb)
	}
	// And a real difference in value must change the hash.
	e.Details, _ = CanonicalJSON([]byte(`{"rows":13,"file":"in.csv","meta":{"y":1,"x":[true,null]}}`))
	if ComputeHash(e) == ha {
		t.Fatal("different details, same hash")
	}
}

func TestParseTimeCanonical(t *testing.T) {
	if _, err := parseTime("2025-01-02T03:04:05.000000000Z"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"2025-01-02T03:04:05Z",
		"2025-01-02T03:04:05.5Z",
		"2025-01-02T04:04:05.000000000+01:00",
		"2025-01-02 03:04:05.000000000Z",
	} {
		if _, err := parseTime(s); err == nil {
			t.Errorf("parseTime(%q) accepted a non-canonical time", s)
		}
	}
}

func TestCanonicalJSONLoneSurrogate(t *testing.T) {
	got, err := CanonicalJSON([]byte(`{"s":"\ud800"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "{\"s\":\"\uFFFD\"}" {
		t.Fatalf("lone surrogate canonicalised to %q, documented as U+FFFD", got)
	}
}
