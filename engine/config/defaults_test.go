package config_test

import (
	"testing"

	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/records"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/policies"
)

// TestDefaultsAgree: the defaults are those of the packages that use the
// settings, so a Config from Defaults behaves as a zero setting did.
func TestDefaultsAgree(t *testing.T) {
	d := config.Defaults()
	if d.PluginCallTimeout != sandbox.DefaultCallTimeout {
		t.Errorf("plugin.call_timeout %s, sandbox %s", d.PluginCallTimeout, sandbox.DefaultCallTimeout)
	}
	if d.MaxRecordBytes != records.DefaultMaxRecordBytes {
		t.Errorf("max_record_bytes %d, records %d", d.MaxRecordBytes, records.DefaultMaxRecordBytes)
	}
	if d.PolicyKeyID != policies.DefaultKeyID {
		t.Errorf("policy.key_id %q, policies %q", d.PolicyKeyID, policies.DefaultKeyID)
	}
}
