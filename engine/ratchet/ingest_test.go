package ratchet_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/store"
)

// TestInputCopiedWhileRead: a file input is hashed first (the batch id)
// and copied into the store as the pipeline reads it. The copy is the
// input's blob, and a file that changes between the two reads fails the
// batch on record, stores nothing under the digest it had, and commits
// nothing.
func TestInputCopiedWhileRead(t *testing.T) {
	p := enginetest.NewProject(t)
	job := "name: plain\nsource: test\nclassification: internal\nformat: jsonl\nschema: schemas/sensor-reading.json\n"
	if err := os.WriteFile(filepath.Join(p.Root, "jobs", "plain.yaml"), []byte(job), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", "plain job"); err != nil {
		t.Fatal(err)
	}
	content := enginetest.GenInput(t, 300, 3)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", content)

	res, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "plain", Input: in, AsOf: enginetest.AsOf, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Input != store.HashBytes(content) || res.InputBytes != int64(len(content)) {
		t.Fatalf("input on record %s, %d bytes; the file is %s, %d bytes", res.Input, res.InputBytes, store.HashBytes(content), len(content))
	}
	if err := p.Store.Verify(res.Input); err != nil {
		t.Fatalf("the input's blob: %v", err)
	}

	// Another input, one letter of it changed (same size) after it was
	// hashed.
	twice := append(content, content...)
	in = enginetest.WriteInput(t, t.TempDir(), "in.jsonl", twice)
	*ratchet.TestHook = func(s string) error {
		if s == "run.input-hashed" {
			os.WriteFile(in, bytes.Replace(twice, []byte("AB-"), []byte("AC-"), 1), 0o644)
		}
		return nil
	}
	_, err = ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "plain", Input: in, AsOf: enginetest.AsOf, Workers: 2})
	*ratchet.TestHook = nil
	var ie *ratchet.InfraError
	if !errors.Is(err, store.ErrInputChanged) || !errors.As(err, &ie) || ie.BatchID == "" || !strings.Contains(err.Error(), in) {
		t.Fatalf("a run whose input changed after it was hashed: %v; want a failed batch saying the input changed", err)
	}
	failed := enginetest.Details[actions.BatchFailedDetails](t, p.Trail, "batch:"+ie.BatchID)
	if len(failed) != 1 || !strings.Contains(failed[0].Error, "the input changed while it was read") {
		t.Fatalf("batch.failed entries of %s: %+v", ie.BatchID, failed)
	}
	if d := failed[0].Input; d != store.HashBytes(twice) || p.Store.Has(d) {
		t.Fatalf("the failed batch names input %s (in the store: %v); want the digest the file had when hashed, not stored", d, p.Store.Has(d))
	}
	if bs, _ := p.Batches(context.Background()); len(bs) != 1 {
		t.Fatalf("%d batches committed, want only the first", len(bs))
	}
	if pend, _ := os.ReadDir(p.PendingDir()); len(pend) != 0 {
		t.Fatalf("pending work left: %v", pend)
	}
	if tmp, _ := os.ReadDir(filepath.Join(p.Store.Dir(), "tmp")); len(tmp) != 0 {
		t.Fatalf("the store's tmp/ holds %d files", len(tmp))
	}
}
