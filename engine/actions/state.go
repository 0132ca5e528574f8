package actions

import "github.com/pawl-dev/pawl/engine/store"

// StateReset is the one way a job's chain of plugin states restarts: the
// job's next batch starts from the empty state (docs/plugin-abi.md §8).
const StateReset = "state.reset" // StateResetDetails

// StateResetDetails: an approver reset a job's plugin state (`pawl state
// reset`), with a reason. The entry is a link of the job's chain of
// states: Replaced is the state it replaces (the state_out of Batch, the
// job's last batch that advanced it, or of an earlier reset), After the
// state the job's next batch starts from, always the empty state.
type StateResetDetails struct {
	Job      string       `json:"job"`
	Replaced store.Digest `json:"replaced"`
	Batch    string       `json:"replaced_batch,omitempty"` // the batch that produced Replaced ("" when an earlier reset did)
	Keys     int64        `json:"replaced_keys"`            // how many keys Replaced held
	After    store.Digest `json:"after"`
}

func (StateResetDetails) Action() string { return StateReset }
