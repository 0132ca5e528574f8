package policies

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestInputTimeStaysRFC3339: a time whose offset carries it out of the
// years 0000-9999 in UTC is refused. It was accepted and re-rendered in
// UTC as "-0001-12-31T23:30:00Z" or "10000-01-01T00:59:59Z", which is not
// RFC 3339: the input on record could not be prepared again (found by
// FuzzPrepareInput).
func TestInputTimeStaysRFC3339(t *testing.T) {
	for ts, ok := range map[string]bool{
		"0000-01-01T00:30:00+01:00": false,
		"9999-12-31T23:59:59-01:00": false,
		"0000-01-01T00:30:00-01:00": true,
		"9999-12-31T23:59:59+01:00": true,
		"0000-01-01T00:00:00Z":      true,
		"9999-12-31T23:59:59.999Z":  true,
	} {
		in := json.RawMessage(`{"time":"` + ts + `","principal":{"id":"e"},"plugin":{"name":"n"}}`)
		out, err := PrepareInput(KindPlugin, in)
		var ie *InputError
		if ok != (err == nil) || !ok && (!errors.As(err, &ie) || !strings.Contains(err.Error(), "outside RFC 3339")) {
			t.Errorf("%s: %s %v", ts, out, err)
			continue
		}
		if ok {
			if again, err := PrepareInput(KindPlugin, json.RawMessage(out)); err != nil || string(again) != string(out) {
				t.Errorf("%s: %s, then %s %v", ts, out, again, err)
			}
		}
	}
}

// TestEgressNoticeInput: an egress input is an export or a notice; the
// fields of a notice stay out of an export's canonical input (so its
// decision id is what it was), and records is for a notice only.
func TestEgressNoticeInput(t *testing.T) {
	in := EgressInput{Destination: Destination{URL: "file:///srv/out/"}, Principal: Principal{ID: "a"},
		Resource: Resource{BatchID: "b1", State: "committed", Classification: "internal"}, Time: "2026-01-02T03:04:05Z"}
	b, err := PrepareInput(KindEgress, in)
	if err != nil || strings.Contains(string(b), `"kind"`) || strings.Contains(string(b), `"records"`) {
		t.Fatalf("export input %s, %v", b, err)
	}
	in.Kind, in.Records = EgressNotice, true
	if b, err = PrepareInput(KindEgress, in); err != nil || !strings.Contains(string(b), `"kind":"notice"`) || !strings.Contains(string(b), `"records":true`) {
		t.Fatalf("notice input %s, %v", b, err)
	}
	in.Kind = "telegram"
	if _, err := PrepareInput(KindEgress, in); err == nil || !strings.Contains(err.Error(), `kind "telegram" is not an egress kind`) {
		t.Errorf("unknown kind: %v", err)
	}
	in.Kind = ""
	if _, err := PrepareInput(KindEgress, in); err == nil || !strings.Contains(err.Error(), "records is for a notice") {
		t.Errorf("records on an export: %v", err)
	}
}
