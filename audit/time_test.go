package audit

import (
	"encoding/json"
	"testing"
	"time"
)

// TestEntryTimeJSON: an entry's time in another document is spelled as the
// trail has it, trailing zeros of the fraction included, and reads back.
func TestEntryTimeJSON(t *testing.T) {
	tm := time.Date(2026, 11, 25, 1, 2, 3, 450_000_000, time.FixedZone("CET", 3600))
	b, err := json.Marshal(struct {
		T EntryTime `json:"t"`
	}{EntryTime{tm}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"t":"2026-11-25T00:02:03.450000000Z"}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	if FormatTime(tm) != "2026-11-25T00:02:03.450000000Z" {
		t.Fatalf("FormatTime: %s", FormatTime(tm))
	}
	var back struct {
		T EntryTime `json:"t"`
	}
	if err := json.Unmarshal(b, &back); err != nil || !back.T.Equal(tm) {
		t.Fatalf("read back %v, %v", back.T, err)
	}
	if _, err := json.Marshal(EntryTime{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Fatal("a time after year 9999 was written")
	}
}
