package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
)

// TestConfigPrecedence: flags > PAWL_* environment > pawl.yaml > defaults.
func TestConfigPrecedence(t *testing.T) {
	root := t.TempDir()
	a := &app{s: &streams{}}
	cfg, err := a.config(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != ".pawl" || cfg.Workers != 0 || cfg.MaxRecordBytes != 64<<20 || cfg.Operator != "" {
		t.Fatalf("defaults: %+v", cfg)
	}
	os.WriteFile(filepath.Join(root, "pawl.yaml"), []byte("operator: from-file\nworkers: 3\nmax_record_bytes: 1000\n"), 0o644)
	cfg, _ = a.config(root, nil)
	if cfg.Operator != "from-file" || cfg.Workers != 3 || cfg.MaxRecordBytes != 1000 {
		t.Fatalf("file: %+v", cfg)
	}
	t.Setenv("PAWL_OPERATOR", "from-env")
	t.Setenv("PAWL_WORKERS", "5")
	cfg, _ = a.config(root, nil)
	if cfg.Operator != "from-env" || cfg.Workers != 5 || cfg.MaxRecordBytes != 1000 {
		t.Fatalf("env: %+v", cfg)
	}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.String("operator", "", "")
	fs.Int("workers", 0, "")
	if err := fs.Parse([]string{"--operator", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	cfg, _ = a.config(root, fs)
	if cfg.Operator != "from-flag" || cfg.Workers != 5 {
		t.Fatalf("flag: %+v", cfg)
	}
	t.Setenv("PAWL_WORKERS", "-1")
	if _, err := a.config(root, nil); err == nil {
		t.Fatal("negative workers accepted")
	}
}
