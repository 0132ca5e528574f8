package ratchet_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/ratchet"
)

// nowhere is a distributor no batch may reach: the refusal must come
// before anything is sent.
type nowhere struct{ t *testing.T }

func (nowhere) Queue() string { return "nats://127.0.0.1:1" }

func (n nowhere) Open(context.Context, *ratchet.Plan) (ratchet.Dispatch, error) {
	n.t.Error("a Parquet batch was opened for distribution")
	return nil, errors.New("not here")
}

// TestParquetIsNotDistributed: a distributed run of a Parquet job is
// refused with the reason and what to do, before the policy is asked or a
// record leaves, and the failure is on record.
func TestParquetIsNotDistributed(t *testing.T) {
	p := enginetest.NewProject(t)
	addJob(t, p, "sensor-pq", "parquet", "")
	_, rows := sensorRows(t, 20, 3)
	in := enginetest.WriteInput(t, t.TempDir(), "in.parquet", sensorParquet(t, rows, 1000))
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-pq", Input: in, AsOf: enginetest.AsOf, Reason: "test", Distribute: nowhere{t}})
	const want = "job sensor-pq: a distributed run takes JSONL or CSV input, and this job's input is Parquet: run it without distribution"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("want %q, got %v", want, err)
	}
	failed := enginetest.Details[actions.BatchFailedDetails](t, p.Trail, "")
	if len(failed) != 1 || !strings.Contains(failed[0].Error, want) {
		t.Fatalf("the refusal is not on record as batch.failed: %+v", failed)
	}
	for _, e := range enginetest.Details[actions.PolicyDecisionDetails](t, p.Trail, "batch:"+failed[0].BatchID) {
		if e.Decision.Kind == "distribute" {
			t.Fatalf("the policy was asked to distribute a batch that cannot be: %+v", e.Decision)
		}
	}
}
