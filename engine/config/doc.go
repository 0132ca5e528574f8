// Package config is pawl's configuration: one Config type, the table of
// keys that sets it, their defaults, their validation and their
// documentation.
//
// # Guarantees
//
//   - One place for the keys. The table in keys.go is the only place the
//     key list is written: each key's name, environment variable, type,
//     default, flag and meaning. Viper's defaults and environment
//     bindings, the unknown-key error, the validation messages and
//     docs/configuration.md are derived from it, and a test fails when the
//     generated documentation, the scaffold pawl.yaml or the README falls
//     out of step. Every field of Config is set by exactly one key.
//   - One precedence: command-line flags > PAWL_* environment > pawl.yaml
//     > defaults (Precedence). Only keys that name a Flag read one, and
//     only when it was given on the command line; an empty environment
//     variable counts as unset.
//   - Pinned settings from pawl.yaml only. The keys whose Pin names a
//     pseudo-file of pawl.lock (PolicyPin: the policy bundle's trust
//     settings; LimitsPin: the limits) can change an outcome or what a
//     policy decision vouches for; project pins them and a run checks them.
//     Load refuses their environment variables, and no flag sets them, so
//     they cannot change with nothing on record.
//   - Validation before any work. Load refuses an unknown key in pawl.yaml
//     (listing the known ones), a malformed value (a whole number with a
//     fraction, a duration without a unit, "many" workers) and an invalid
//     one (Validate), and names where it came from — the file, the
//     environment variable or the flag — the key, the value and what to
//     write. A Config that Load returns is complete: every default filled
//     in, the operator included.
//
// # Use
//
//	cfg, err := config.Load(root, cmd.Flags()) // root holds pawl.yaml
//	if err != nil {
//		return err // before anything is opened
//	}
//
// Regenerate docs/configuration.md after changing the table:
//
//	go test ./engine/config -update
package config
