// Package actions is the format of pawl's audit trail: every action pawl
// writes, each with a typed details struct, in one file (actions.go), and
// the record of a batch (batch.go). Entries are written with Append, which
// encodes the details canonically, and read back with Decode, which refuses
// an entry of another action or details with unknown keys.
//
// It guarantees that the trail's format lives in types, not in map
// literals scattered over the code: docs/audit-format.md lists the same
// actions with the same details keys, and a test fails when the two
// disagree. It does not decide when an action is written; the packages that
// act do.
package actions
