package ratchet_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
)

func TestReplayReproducesTheBatch(t *testing.T) {
	p := enginetest.NewProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 3000, 40))
	res := enginetest.Run(t, p, in, 2)
	rep, err := ratchet.Replay(context.Background(), p, res.BatchID, "inspector", "annual review")
	if err != nil {
		t.Fatal(err)
	}
	// Seven artifacts and, since the example job's zscore keeps state,
	// the state the batch produced (state_out).
	if !rep.Match || rep.Failure != "" || len(rep.Artifacts) != 8 || rep.Artifacts[6].Name != "state_out" || !rep.Artifacts[6].Match {
		t.Fatalf("replay: %+v", rep)
	}
	es, _ := p.Trail.Find(context.Background(), actions.BatchReplayed, "batch:"+res.BatchID)
	if len(es) != 1 || es[0].Operator != "inspector" || es[0].Reason != "annual review" {
		t.Fatalf("replay on record: %+v", es)
	}
}

// swapBlob replaces a blob's bytes in the store, as an insider could.
func swapBlob(t *testing.T, p *project.Project, key string, edit func([]byte) []byte) string {
	t.Helper()
	pins, _ := lockfile.Read(p.Root)
	d := pins[key]
	path := p.Store.Path(d)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, edit(b), 0o644); err != nil {
		t.Fatal(err)
	}
	return string(d)
}

func TestReplayFailsLoudlyOnASwappedArtifact(t *testing.T) {
	for _, tc := range []struct {
		key  string
		edit func([]byte) []byte
	}{
		{"plugin:range@1.1.0", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"schemas/sensor-reading.json", func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"minimum": -273.15`, `"minimum": 0`, 1))
		}},
		{"lookups/device-registry.txt", func(b []byte) []byte { return append(b, "ZZ-000001\n"...) }},
	} {
		t.Run(tc.key, func(t *testing.T) {
			p := enginetest.NewProject(t)
			in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 500, 41))
			res := enginetest.Run(t, p, in, 2)
			digest := swapBlob(t, p, tc.key, tc.edit)
			rep, err := ratchet.Replay(context.Background(), p, res.BatchID, "inspector", "")
			if err != nil {
				t.Fatal(err)
			}
			if rep.Match || !strings.Contains(rep.Failure, strings.TrimPrefix(digest, "sha256:")) {
				t.Fatalf("a replay with %s swapped did not fail naming it: %+v", tc.key, rep)
			}
			es, _ := p.Trail.Find(context.Background(), actions.BatchReplayed, "batch:"+res.BatchID)
			if len(es) != 1 || !strings.Contains(string(es[0].Details), `"match":false`) {
				t.Fatalf("failed replay not on record: %+v", es)
			}
		})
	}
}
