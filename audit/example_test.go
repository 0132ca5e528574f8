package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/audit/canonjson"
)

// A trail from start to finish: open it, append, verify it, sign a
// checkpoint to keep elsewhere and check the trail against it, and export
// the entries as JSON that anyone can re-hash without the database.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "audit-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Open creates the trail, with its genesis entry (seq 1).
	tr, err := audit.Open(filepath.Join(dir, "audit.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()

	// Time is left zero: the trail takes it from its clock, and refuses a
	// time before the newest entry's.
	committed, err := tr.Append(ctx, audit.Entry{
		Operator: "alice",
		OSUser:   "svc-pawl",
		Action:   "batch.committed",
		Object:   "batch:b1",
		Reason:   "nightly load",
		Details:  json.RawMessage(`{"records": 100, "quarantined": 2}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("appended entry", committed.Seq, "with details", string(committed.Details))

	rep, err := tr.Verify(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified:", rep.OK, rep.Entries, "entries")

	// A checkpoint vouches for the trail's current head. Keep it (and the
	// public key) outside the enclave.
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	cp, c, err := tr.SignCheckpoint(ctx, 0, priv)
	if err != nil {
		log.Fatal(err)
	}
	again, _, _ := tr.SignCheckpoint(ctx, c.Size, priv)
	fmt.Println("checkpoint of", c.Size, "entries, the same bytes when signed again:", bytes.Equal(cp, again))

	// The trail grows; it still extends the checkpoint.
	if _, err := tr.Append(ctx, audit.Entry{Operator: "bob", OSUser: "svc-pawl", Action: "pin.changed",
		Object: "file:jobs/sensor-feed.yaml", Reason: "new supplier"}); err != nil {
		log.Fatal(err)
	}
	got, err := tr.VerifyCheckpoint(ctx, cp, pub)
	fmt.Println("the trail extends the checkpoint of", got.Size, "entries:", err == nil)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	_, err = tr.VerifyCheckpoint(ctx, cp, otherPub)
	var cpErr *audit.CheckpointError
	fmt.Println("a checkpoint checked with another key is refused:", errors.As(err, &cpErr))

	// Export every entry as a JSON line, read the lines back and re-hash.
	entries, err := tr.List(ctx, audit.Filter{})
	if err != nil {
		log.Fatal(err)
	}
	var export bytes.Buffer
	enc := json.NewEncoder(&export)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			log.Fatal(err)
		}
	}
	dec := json.NewDecoder(&export)
	rehashed := 0
	for dec.More() {
		var e audit.Entry
		if err := dec.Decode(&e); err != nil {
			log.Fatal(err)
		}
		if audit.ComputeHash(e) == e.Hash {
			rehashed++
		}
	}
	fmt.Println("exported entries whose hash recomputes:", rehashed, "of", len(entries))

	// Output:
	// appended entry 2 with details {"quarantined":2,"records":100}
	// verified: true 2 entries
	// checkpoint of 2 entries, the same bytes when signed again: true
	// the trail extends the checkpoint of 2 entries: true
	// a checkpoint checked with another key is refused: true
	// exported entries whose hash recomputes: 3 of 3
}

// The JSON form of an entry: snake_case keys, the time in the fixed-width
// form the hash covers (all nine fractional digits), details as the
// canonical object.
func ExampleEntry_MarshalJSON() {
	e := audit.Entry{
		Seq:      2,
		Time:     time.Date(2026, 1, 2, 3, 4, 5, 100000000, time.UTC),
		Operator: "alice",
		OSUser:   "svc-pawl",
		Action:   "batch.committed",
		Object:   "batch:b1",
		Reason:   "nightly load",
		Details:  json.RawMessage(`{"records":100,"quarantined":2}`),
		PrevHash: audit.GenesisPrevHash,
	}
	e.Details, _ = canonjson.CanonicalizeObject(e.Details)
	e.Hash = audit.ComputeHash(e)
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
	// Output:
	// {
	//   "seq": 2,
	//   "time": "2026-01-02T03:04:05.100000000Z",
	//   "operator": "alice",
	//   "os_user": "svc-pawl",
	//   "action": "batch.committed",
	//   "object": "batch:b1",
	//   "reason": "nightly load",
	//   "details": {
	//     "quarantined": 2,
	//     "records": 100
	//   },
	//   "prev_hash": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
	//   "hash": "sha256:bd5d2868a11a9a8469d0abf8c9435a50aa99b18583e9c786b0ebd1fb900ef6be"
	// }
}

// Checking one exported entry (a line of entries.jsonl) without the
// database: read it and recompute its hash. Any edit shows.
func ExampleComputeHash() {
	line := `{"seq":2,"time":"2026-01-02T03:04:05.100000000Z","operator":"alice","os_user":"svc-pawl",` +
		`"action":"batch.committed","object":"batch:b1","reason":"nightly load","details":{"quarantined":2,"records":100},` +
		`"prev_hash":"sha256:0000000000000000000000000000000000000000000000000000000000000000",` +
		`"hash":"sha256:bd5d2868a11a9a8469d0abf8c9435a50aa99b18583e9c786b0ebd1fb900ef6be"}`
	var e audit.Entry
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		log.Fatal(err)
	}
	fmt.Println("hash recomputes:", audit.ComputeHash(e) == e.Hash)

	e.Reason = "nightly load (corrected)"
	fmt.Println("after an edit:", audit.ComputeHash(e) == e.Hash)

	// Another spelling of the same instant is not the entry the hash covers.
	trimmed := bytes.Replace([]byte(line), []byte(".100000000Z"), []byte(".1Z"), 1)
	fmt.Println(json.Unmarshal(trimmed, &e))
	// Output:
	// hash recomputes: true
	// after an edit: false
	// audit: entry: time: time "2026-01-02T03:04:05.1Z" is not RFC 3339 UTC with nanoseconds (2006-01-02T15:04:05.000000000Z)
}
