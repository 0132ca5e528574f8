//go:build wasip1

// Command stategomigrate is version 0.0.4 of stateprobe, in Go (build/plugins.sh
// gives it the manifest): its state in format 3, reached through
// pawl_migrate_state (plugins/pdk/state/migrate) from format 1
// (stateprobe@0.0.1) or format 2 (stateprobe@0.0.3). It keeps each key with
// its value prefixed "go3:", except the format-1 key "k/1", which it refuses
// (a stand-in for a value a new encoding cannot hold). Every record passes.
// engine/ratchet's TestStateViolationFailsTheBatch/format_change runs it.
package main

import (
	"errors"
	"fmt"

	"github.com/pawl-dev/pawl/plugins/pdk"
	"github.com/pawl-dev/pawl/plugins/pdk/state"
	"github.com/pawl-dev/pawl/plugins/pdk/state/migrate"
)

type plugin struct{}

func (plugin) Init(pdk.Init) error                  { return nil }
func (plugin) Validate(b *pdk.Batch, r *pdk.Result) {}

func migrateKey(from string, key, value []byte) error {
	if from != "1" && from != "2" {
		return fmt.Errorf("stategomigrate: it migrates formats 1 and 2, not %q", from)
	}
	if from == "1" && string(key) == "k/1" {
		return errors.New("k/1 of format 1 has no format-3 form; reset the state")
	}
	state.Put(key, append([]byte("go3:"), value...))
	return nil
}

func init() {
	pdk.Register(plugin{})
	migrate.Register(migrateKey)
}

func main() {}
