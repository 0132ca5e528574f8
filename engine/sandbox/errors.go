package sandbox

import (
	"errors"
	"fmt"
	"strings"
)

// Kind says what went wrong with a plugin, and so what the caller does.
type Kind int

// The kinds of plugin failure. Only KindTrap is Deterministic: the same
// records make the plugin fail the same way every time, so the caller
// bisects the batch to the record and quarantines it. Every other kind
// fails the batch.
const (
	// KindLoad: the module is refused before it runs: hash mismatch, not
	// WebAssembly, no or bad manifest, a forbidden import, missing exports.
	KindLoad Kind = iota + 1
	// KindABI: the manifest speaks another ABI version.
	KindABI
	// KindConfig: the plugin refused its config or lookup data at init.
	KindConfig
	// KindTrap: the guest trapped (unreachable, out-of-bounds access,
	// division by zero), panicked, or exited. Deterministic: bisect.
	KindTrap
	// KindTimeout: the call ran past Config.CallTimeout.
	KindTimeout
	// KindMemory: the guest ran into Config.MemoryLimitPages.
	KindMemory
	// KindStack: the guest overflowed the call stack (runaway recursion).
	KindStack
	// KindResultTooLarge: the guest returned more than Config.MaxResultBytes.
	KindResultTooLarge
	// KindMalformedResult: the guest broke the ABI (bad result encoding,
	// bad pointers, a reason for a record that is not in the batch).
	KindMalformedResult
	// KindCanceled: the caller's context was canceled; not the plugin's fault.
	KindCanceled
	// KindClosed: the instance was used after it failed or was closed.
	KindClosed
	// KindState: the guest broke its declared state: a key or value over
	// its limits, a key outside its prefixes, more keys than max_keys,
	// state used outside pawl_validate or without a declaration.
	KindState
	// KindTrapStorm: the guest trapped the same way on SameTrapLimit
	// records in a row while Bisect looked for the records that trap: it
	// is broken for this input, not the records, and the batch fails
	// rather than bisecting every record.
	KindTrapStorm
	// KindMigrationRefused: the guest's pawl_migrate_state refused to carry
	// a key of an older state format over (its words in the error): a
	// decision of the plugin, not a broken state.
	KindMigrationRefused
)

var kindNames = map[Kind]string{
	KindLoad:             "refused to load",
	KindABI:              "wrong ABI version",
	KindConfig:           "rejected its config",
	KindTrap:             "trapped",
	KindTimeout:          "timed out",
	KindMemory:           "exhausted its memory",
	KindStack:            "overflowed its stack",
	KindResultTooLarge:   "returned too large a result",
	KindMalformedResult:  "returned a malformed result",
	KindCanceled:         "was canceled",
	KindClosed:           "was used after it was closed",
	KindState:            "broke its declared state",
	KindTrapStorm:        "traps on every record",
	KindMigrationRefused: "refused to migrate its state",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is every failure the sandbox reports about a plugin. It names the
// plugin (name@version, or its sha256 when no manifest could be read),
// the operation, and what the plugin did, with the evidence at hand.
type Error struct {
	Plugin  string // "range@1.1.0" or "sha256:…"
	Op      string // "load", "instantiate", "init", "validate"
	Kind    Kind
	Detail  string // what it did, e.g. "wasm error: integer divide by zero"
	Records int    // records in the batch of a validate call
	First   uint64 // Batch.First of that batch
	Output  string // the tail of what the guest wrote to stdout/stderr (a Go panic's message is here)
	Err     error  // the underlying error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin %s: %s", e.Plugin, e.Op)
	if e.Op == "validate" {
		fmt.Fprintf(&b, " (records %d..%d)", e.First, e.First+uint64(e.Records)-1)
	}
	fmt.Fprintf(&b, ": %s", e.Kind)
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	if out := strings.TrimSpace(e.Output); out != "" && !strings.Contains(e.Detail, "panic: ") {
		// The last line is the likeliest to say why (the whole output is
		// in e.Output).
		if i := strings.LastIndexByte(out, '\n'); i >= 0 {
			out = "… " + out[i+1:]
		}
		if len(out) > 200 {
			out = out[:200] + " …"
		}
		fmt.Fprintf(&b, " [guest output: %s]", out)
	}
	if e.Kind == KindTrap && e.Op == "validate" {
		b.WriteString(" (deterministic: bisect the batch to find the record)")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Deterministic reports whether the same input would fail the same way:
// a trap. The caller bisects (see Bisect) and quarantines the record.
// Timeouts, resource exhaustion and ABI violations fail the batch.
func (e *Error) Deterministic() bool { return e.Kind == KindTrap }

// IsTrap reports whether err is a deterministic trap of a plugin.
func IsTrap(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Deterministic()
}

// KindOf returns the Kind of a sandbox error, or 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
