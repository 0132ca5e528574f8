package project_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
)

// TestAPlantedInitMarkerRemovesNothing: someone who can write the
// project's files (not its data directory) plants an init marker naming
// the data directory. Every command refuses the project, but without
// telling anyone to run init again; and init run again removes nothing.
func TestAPlantedInitMarkerRemovesNothing(t *testing.T) {
	p := enginetest.NewProject(t)
	root := p.Root
	p.Close()
	for _, marker := range []string{".pawl\n", "nonce 00\n.pawl\n.\n", "jobs/sensor-feed.yaml\n"} {
		if err := os.WriteFile(filepath.Join(root, project.InitMarker), []byte(marker), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := engine.Open(context.Background(), root, config.Defaults())
		if err == nil || !strings.Contains(err.Error(), "did not write") || strings.Contains(err.Error(), "pawl init") {
			t.Fatalf("marker %q: open: %v", marker, err)
		}
		if _, err := engine.Init(context.Background(), root, engine.InitOptions{}); err == nil || !strings.Contains(err.Error(), "nothing was removed") {
			t.Fatalf("marker %q: init again: %v", marker, err)
		}
		for _, f := range []string{".pawl/audit.db", ".pawl/keys/engine.key", "jobs/sensor-feed.yaml", "pawl.lock"} {
			if _, err := os.Stat(filepath.Join(root, f)); err != nil {
				t.Fatalf("marker %q: %s is gone: %v", marker, f, err)
			}
		}
	}
	os.Remove(filepath.Join(root, project.InitMarker))
	q, err := engine.Open(context.Background(), root, config.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
}

// TestAnUnfinishedInitIsStartedOver: an init cut short (here: its marker
// and nonce in place, the files half written) makes every command refuse
// the project and point at init, and init run again removes exactly what
// the unfinished one created, keeps the user's own files, and finishes.
func TestAnUnfinishedInitIsStartedOver(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("mine\n"), 0o644)
	if _, _, err := project.Scaffold(dir); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "schemas", "sensor-reading.json")) // as if cut short
	_, err := engine.Open(context.Background(), dir, config.Defaults())
	if err == nil || !strings.Contains(err.Error(), "half-made") || !strings.Contains(err.Error(), "pawl init") {
		t.Fatalf("open of a half-made project: %v", err)
	}
	p, err := engine.Init(context.Background(), dir, engine.InitOptions{Operator: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for f, want := range map[string]string{"notes.txt": "mine\n", ".gitignore": "mine\n"} {
		if b, _ := os.ReadFile(filepath.Join(dir, f)); string(b) != want {
			t.Fatalf("%s was touched: %q", f, b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, project.InitMarker)); err == nil {
		t.Fatal("the marker outlived a finished init")
	}
}
