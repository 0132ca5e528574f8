package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// TestDetailsMustBeCanonicalizable: details are one JSON object that the
// canonical encoding accepts; anything else is refused, never repaired.
func TestDetailsMustBeCanonicalizable(t *testing.T) {
	if got, err := canonicalDetails(nil); err != nil || string(got) != "{}" {
		t.Fatalf("empty details: %s, %v", got, err)
	}
	if got, err := canonicalDetails([]byte(`{"b":1, "a":"\u2028<&>"}`)); err != nil || string(got) != "{\"a\":\"\u2028<&>\",\"b\":1}" {
		t.Fatalf("canonical form: %s, %v", got, err)
	}
	for in, want := range map[string]string{
		`[1,2]`:              "found an array",
		`{"a":1,"\u0061":2}`: "duplicate key",
		`{"s":"\ud800"}`:     "surrogate",
		"{\"a\":\"\xff\"}":   "UTF-8",
		`{"a":1} x`:          "after",
	} {
		if _, err := canonicalDetails([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("details %s: %v, want an error mentioning %q", in, err, want)
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
		Action:   "batch.committed",
		Object:   "batch:42",
		Reason:   `nightly "run" <ok>`,
		Details:  []byte(`{"b":[1,2.50],"a":"x"}`),
		PrevHash: GenesisPrevHash,
	}
	details, err := canonicalDetails(e.Details)
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
	a, err := canonicalDetails([]byte(`{"rows":12,"file":"in.csv","meta":{"y":1,"x":[true,null]}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := canonicalDetails([]byte(`{ "meta" : { "x" : [ true , null ] , "y" : 1 } , "file" : "in.csv" , "rows" : 12 }`))
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
	e.Details, _ = canonicalDetails([]byte(`{"rows":13,"file":"in.csv","meta":{"y":1,"x":[true,null]}}`))
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
