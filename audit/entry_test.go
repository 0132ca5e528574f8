package audit

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// jsonEncodings are the ways pawl writes entries: json.Marshal, the
// encoder of entries.jsonl (HTML escaping off) and the indented encoder of
// --output json.
var jsonEncodings = []struct {
	name string
	enc  func(any) ([]byte, error)
}{
	{"Marshal", json.Marshal},
	{"jsonl", func(v any) ([]byte, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		err := enc.Encode(v)
		return b.Bytes(), err
	}},
	{"indented", func(v any) ([]byte, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		err := enc.Encode(v)
		return b.Bytes(), err
	}},
}

func TestEntryJSONRoundTrip(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	setClock(t, base.Add(-time.Hour)) // the genesis entry comes first
	tr, _ := newTrail(t)
	for _, e := range []Entry{
		// time.Time's own JSON would write these as ...00Z and ...00.1Z,
		// and the hash covers ...00.000000000Z and ...00.100000000Z.
		{Time: base, Reason: "whole second"},
		{Time: time.Date(2026, 1, 2, 4, 4, 0, 500, time.FixedZone("CET", 3600)), Reason: "not UTC"},
		{Time: base.Add(120 * time.Microsecond), Reason: "trailing zeros"},
		{Time: base.Add(100 * time.Millisecond), Reason: "a tenth"},
		{Time: base.Add(123456789), Reason: "all nine digits"},
		{Time: base.Add(123456789), Reason: "line\u2028separator\u2029 <b>&amp;</b> \"quoted\" back\\slash tab\t nul\x00 é 😀",
			Details: []byte(`{"z":"\u2028<&>","a":[1.0,1e3,{"b":null,"a":true}],"m":"é"}`)},
	} {
		e.Operator, e.Action, e.Object = "alice", "pin.changed", "file:jobs/x.yaml"
		mustAppend(t, tr, e)
	}
	stored, err := tr.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 7 {
		t.Fatalf("%d entries", len(stored))
	}
	wantTimes := []string{"2026-01-02T03:04:00.000000000Z", "2026-01-02T03:04:00.000000500Z", "2026-01-02T03:04:00.000120000Z", "2026-01-02T03:04:00.100000000Z", "2026-01-02T03:04:00.123456789Z"}
	for _, enc := range jsonEncodings {
		for _, e := range stored { // the genesis entry included
			b, err := enc.enc(e)
			if err != nil {
				t.Fatalf("%s: entry %d: %v", enc.name, e.Seq, err)
			}
			if e.Seq >= 2 && e.Seq <= 6 && !bytes.Contains(b, []byte(`"time": "`+wantTimes[e.Seq-2]+`"`)) && !bytes.Contains(b, []byte(`"time":"`+wantTimes[e.Seq-2]+`"`)) {
				t.Errorf("%s: entry %d: want time %s in %s", enc.name, e.Seq, wantTimes[e.Seq-2], b)
			}
			var back Entry
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("%s: entry %d: %v\n%s", enc.name, e.Seq, err, b)
			}
			if !reflect.DeepEqual(back, e) {
				t.Errorf("%s: entry %d read back as\n%#v\nwant\n%#v", enc.name, e.Seq, back, e)
			}
			if h := ComputeHash(back); h != e.Hash {
				t.Errorf("%s: entry %d: ComputeHash after the round trip is %s, stored hash %s\n%s", enc.name, e.Seq, h, e.Hash, b)
			}
		}
		// A slice reads back too, as `audit log --output json` prints one.
		b, err := enc.enc(stored)
		if err != nil {
			t.Fatal(err)
		}
		var back []Entry
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", enc.name, err)
		}
		if !reflect.DeepEqual(back, stored) {
			t.Errorf("%s: the list did not read back", enc.name)
		}
	}
	last := stored[6]
	if !strings.Contains(last.Reason, "\u2028") || !strings.Contains(last.Reason, "\u2029") {
		t.Fatalf("reason %q", last.Reason)
	}
}

func TestEntryJSONKeys(t *testing.T) {
	e := Entry{Seq: 3, Time: time.Date(2026, 1, 2, 3, 4, 5, 100000000, time.UTC), Operator: "alice", OSUser: "ci",
		Action: "batch.committed", Object: "batch:x", Reason: "nightly", Details: []byte(`{"records":10}`),
		PrevHash: GenesisPrevHash, Hash: "sha256:" + strings.Repeat("ab", 32)}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":3,"time":"2026-01-02T03:04:05.100000000Z","operator":"alice","os_user":"ci","action":"batch.committed",` +
		`"object":"batch:x","reason":"nightly","details":{"records":10},"prev_hash":"` + GenesisPrevHash + `","hash":"sha256:` + strings.Repeat("ab", 32) + `"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	// Empty details are the empty object, as Append stores them.
	e.Details = nil
	if b, _ := json.Marshal(e); !bytes.Contains(b, []byte(`"details":{}`)) {
		t.Fatalf("nil details: %s", b)
	}
}

func TestEntryMarshalRefuses(t *testing.T) {
	ok := Entry{Seq: 1, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Operator: "alice", Action: "x"}
	for name, e := range map[string]Entry{
		"invalid UTF-8":     func() Entry { e := ok; e.Reason = "bad \xff"; return e }(),
		"year 10000":        func() Entry { e := ok; e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC); return e }(),
		"details not JSON":  func() Entry { e := ok; e.Details = []byte(`{"a":`); return e }(),
		"details an array":  func() Entry { e := ok; e.Details = []byte(`[1]`); return e }(),
		"details duplicate": func() Entry { e := ok; e.Details = []byte(`{"a":1,"a":2}`); return e }(),
	} {
		if b, err := json.Marshal(e); err == nil {
			t.Errorf("%s: marshalled as %s", name, b)
		}
	}
}

func TestEntryUnmarshalRefuses(t *testing.T) {
	good := map[string]string{
		"seq": `2`, "time": `"2026-01-02T03:04:05.000000000Z"`, "operator": `"alice"`, "os_user": `"ci"`,
		"action": `"x"`, "object": `"y"`, "reason": `""`, "details": `{}`, "prev_hash": `"p"`, "hash": `"h"`,
	}
	obj := func(change map[string]string, drop ...string) string {
		var parts []string
		for _, k := range entryKeys {
			v, changed := change[k]
			if !changed {
				v = good[k]
			}
			if !slices.Contains(drop, k) {
				parts = append(parts, `"`+k+`":`+v)
			}
		}
		for k, v := range change {
			if _, known := good[k]; !known {
				parts = append(parts, `"`+k+`":`+v)
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	var e Entry
	if err := json.Unmarshal([]byte(obj(nil)), &e); err != nil {
		t.Fatalf("the good entry: %v", err)
	}
	for _, c := range []struct{ name, json, want string }{
		{"unknown key", obj(map[string]string{"Seq": `2`}), `unknown key "Seq"`},
		{"unknown key, otherwise empty", `{"extra":1}`, `unknown key "extra"`},
		{"duplicate key", strings.Replace(obj(nil), `"seq":2`, `"seq":2,"seq":3`, 1), `duplicate key "seq"`},
		{"missing keys", obj(nil, "hash", "details"), "missing details, hash"},
		{"null", obj(map[string]string{"reason": `null`}), "reason is null"},
		{"seq a string", obj(map[string]string{"seq": `"2"`}), "seq"},
		{"seq a fraction", obj(map[string]string{"seq": `2.0`}), "seq"},
		{"seq an exponent", obj(map[string]string{"seq": `2e0`}), "seq"},
		{"time without nanoseconds", obj(map[string]string{"time": `"2026-01-02T03:04:05Z"`}), "time"},
		{"time trimmed", obj(map[string]string{"time": `"2026-01-02T03:04:05.1Z"`}), "time"},
		{"time with an offset", obj(map[string]string{"time": `"2026-01-02T03:04:05.000000000+00:00"`}), "time"},
		{"time a number", obj(map[string]string{"time": `1767323045`}), "time"},
		{"details a string", obj(map[string]string{"details": `"{}"`}), "details: canonical JSON: the top-level value must be an object"},
		{"details an array", obj(map[string]string{"details": `[]`}), "details: canonical JSON: the top-level value must be an object"},
		{"details with a duplicate key", obj(map[string]string{"details": `{"a":1,"a":2}`}), "details: canonical JSON: duplicate key"},
		{"a number for a string", obj(map[string]string{"operator": `7`}), "operator"},
		{"invalid UTF-8", obj(map[string]string{"reason": "\"\xff\""}), "UTF-8"},
		{"not an object", `[1]`, "want a JSON object"},
	} {
		e := Entry{Reason: "untouched"}
		err := json.Unmarshal([]byte(c.json), &e)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %s: err %v, want one mentioning %q", c.name, c.json, err, c.want)
		}
		if e.Reason != "untouched" {
			t.Errorf("%s: a refused entry changed the target: %+v", c.name, e)
		}
	}
}

func TestEntryUnmarshalCanonicalizesDetails(t *testing.T) {
	// An export that was re-indented or re-encoded still reads back to
	// the canonical details the hash covers.
	in := `{"seq":2,"time":"2026-01-02T03:04:05.000000000Z","operator":"a","os_user":"b","action":"c","object":"d","reason":"",
	"details": { "z" : "\u003c\u2028", "a" : [ 1.0 ] },"prev_hash":"p","hash":"h"}`
	var e Entry
	if err := json.Unmarshal([]byte(in), &e); err != nil {
		t.Fatal(err)
	}
	if want := "{\"a\":[1.0],\"z\":\"<\u2028\"}"; string(e.Details) != want {
		t.Fatalf("details %s, want %s", e.Details, want)
	}
}

// TestFirstAndLastRepresentableYears: the fixed-width spelling covers years
// 0001 to 9999, both ends included — in the trail, in an entry's JSON and
// in an EntryTime elsewhere. (Year 0 and 10000 are refused.)
func TestFirstAndLastRepresentableYears(t *testing.T) {
	// A trail created in year 0001, so that an entry then is not before it.
	setClock(t, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))
	tr, _ := newTrail(t)
	for _, tm := range []time.Time{
		time.Date(1, 6, 1, 0, 0, 0, 0, time.UTC), // not the zero time, which means "now"
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
	} {
		e, err := tr.Append(ctx, Entry{Time: tm, Operator: "alice", Action: "note.added", Object: "x"})
		if err != nil {
			t.Fatalf("append at %s: %v", tm, err)
		}
		if !e.Time.Equal(tm) {
			t.Fatalf("stored time %s, want %s", e.Time, tm)
		}
		b, err := json.Marshal(e)
		if err != nil || !bytes.Contains(b, []byte(`"time":"`+formatTime(tm)+`"`)) {
			t.Fatalf("entry at %s: %s %v", tm, b, err)
		}
		if b, err := json.Marshal(EntryTime{tm}); err != nil || string(b) != `"`+formatTime(tm)+`"` {
			t.Fatalf("EntryTime at %s: %s %v", tm, b, err)
		}
	}
	mustVerifyOK(t, tr)
	for _, tm := range []time.Time{time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if _, err := tr.Append(ctx, Entry{Time: tm, Operator: "alice", Action: "note.added", Object: "x"}); err == nil || !strings.Contains(err.Error(), "outside years 0001-9999") {
			t.Errorf("append at %s: %v", tm, err)
		}
		if _, err := json.Marshal(EntryTime{tm}); err == nil {
			t.Errorf("EntryTime at %s was written", tm)
		}
	}
}

// TestLongFieldsAppendVerifyAndMarshal: no field has a length limit; an
// entry with a long operator, OS user, action, object, reason or details is
// appended, verifies, and round-trips through JSON.
func TestLongFieldsAppendVerifyAndMarshal(t *testing.T) {
	tr, _ := newTrail(t)
	long := strings.Repeat("é", 2000)
	for name, e := range map[string]Entry{
		"operator": {Operator: long, Action: "note.added", Object: "x"},
		"os_user":  {Operator: "alice", OSUser: long, Action: "note.added", Object: "x"},
		"action":   {Operator: "alice", Action: "note." + long, Object: "x"},
		"object":   {Operator: "alice", Action: "note.added", Object: long},
		"reason":   {Operator: "alice", Action: "note.added", Object: "x", Reason: long},
		"details":  {Operator: "alice", Action: "note.added", Object: "x", Details: []byte(`{"text":"` + long + `"}`)},
	} {
		got, err := tr.Append(ctx, e)
		if err != nil {
			t.Fatalf("long %s: %v", name, err)
		}
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("long %s: marshal: %v", name, err)
		}
		var back Entry
		if err := json.Unmarshal(b, &back); err != nil || ComputeHash(back) != got.Hash {
			t.Fatalf("long %s: read back with hash %s, want %s (%v)", name, ComputeHash(back), got.Hash, err)
		}
	}
	if rep := mustVerifyOK(t, tr); rep.Entries != 7 {
		t.Fatalf("%d entries", rep.Entries)
	}
}
