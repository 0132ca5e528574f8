package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
)

func TestInitRefusesAnExistingProject(t *testing.T) {
	p := enginetest.NewProject(t)
	if _, err := engine.Init(context.Background(), p.Root, engine.InitOptions{}); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("second init: %v", err)
	}
	fi, err := os.Stat(filepath.Join(p.Data, "keys", "engine.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("engine key mode: %v %v", err, fi)
	}
	es, _ := p.Trail.Find(context.Background(), actions.ProjectInit, "project")
	if len(es) != 1 {
		t.Fatalf("init entries: %d", len(es))
	}
}
