package actions

import "github.com/pawl-dev/pawl/engine/store"

// The plugin lifecycle's removals and revocations.
const (
	PluginRemoved       = "plugin.removed"               // PluginRemovedDetails
	PluginRemoveRefused = "plugin.remove_refused"        // PluginRemoveRefusedDetails
	PluginRevoked       = "policy.plugin_revoked"        // PluginRevokedDetails
	PluginRevokeRefused = "policy.plugin_revoke_refused" // PluginRevokeRefusedDetails
)

// PluginRemovedDetails: a plugin's pin was removed from pawl.lock (`pawl
// plugin remove`). The module stays in the store: the batches on record
// that ran it name it by hash, and a replay reads it from there.
type PluginRemovedDetails struct {
	Plugin     string       `json:"plugin"` // name@version
	Hash       store.Digest `json:"hash"`   // the module the pin named (kept in the store)
	PinsDigest store.Digest `json:"pins_digest"`
}

// PluginRemoveRefusedDetails: `pawl plugin remove` refused; nothing changed.
type PluginRemoveRefusedDetails struct {
	Plugin string       `json:"plugin"`
	Hash   store.Digest `json:"hash,omitempty"` // what it is pinned to, when it is
	// Jobs are the job specs (in the tree or pinned) that use the plugin.
	Jobs  []string `json:"jobs"`
	Error string   `json:"error"`
}

// PluginRevokedDetails: a plugin hash was taken off the bundle's approved
// list (`pawl policy revoke-plugin`), the inverse of policy.plugin_approved.
type PluginRevokedDetails struct {
	Plugin       string       `json:"plugin"`
	Hash         store.Digest `json:"hash"`
	Capabilities []string     `json:"capabilities"` // what it had been approved for
	File         string       `json:"file"`
}

// PluginRevokeRefusedDetails: `pawl policy revoke-plugin` refused; the
// bundle is unchanged.
type PluginRevokeRefusedDetails struct {
	Plugin string `json:"plugin"`
	Error  string `json:"error"`
}

func (PluginRemovedDetails) Action() string       { return PluginRemoved }
func (PluginRemoveRefusedDetails) Action() string { return PluginRemoveRefused }
func (PluginRevokedDetails) Action() string       { return PluginRevoked }
func (PluginRevokeRefusedDetails) Action() string { return PluginRevokeRefused }
