package audit

import (
	"encoding/json"
	"testing"
)

func TestReportJSON(t *testing.T) {
	tr, _ := newTrail(t)
	fillTrail(t, tr, 2)
	rep := mustVerifyOK(t, tr)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"entries":3,"head":"` + rep.Head + `","trail_id":"` + tr.ID() + `","ok":true,"first_bad":0,"problem":""}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back != *rep {
		t.Fatalf("read back %+v (%v), want %+v", back, err, *rep)
	}
}
