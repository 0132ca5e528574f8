// Package policies is pawl's embedded policy engine: OPA v1 (Rego) with
// restricted capabilities, signed bundle loading, and decisions made to go
// on record.
//
// What it is. A project's policies/ directory is an OPA bundle: Rego
// modules, data.json, Rego unit tests (*_test.rego) and a .manifest with a
// revision, optionally signed (.signatures.json). LoadBundle reads it
// (verifying the signature when asked), NewEngine compiles it once and
// prepares one query per decision kind (egress, plugins, classification),
// and Engine.Decide evaluates a typed input and returns a Decision: id,
// input, allow, reasons, result, bundle revision and sha256, OPA version.
// Test and Eval are the compliance team's tools (`pawl policy test|eval`);
// SignBundle and VerifyBundle sign and check bundles (`pawl policy
// sign|verify`). The default bundle (DefaultFS) is what `pawl init`
// writes. The package writes no files: SignBundle returns the signatures
// file for the caller to write durably.
//
// What it guarantees.
//
//   - Determinism: every builtin that reaches the network, the clock, a
//     random source or the host is removed from the capabilities
//     (Capabilities, RemovedBuiltins); a bundle that uses one anywhere,
//     tests included, does not load. Time comes from input.time; the
//     evaluation clock is pinned to it. Re-evaluating a recorded decision
//     with the same bundle gives the same decision (Engine.Reevaluate).
//   - Default deny: a decision allows only when the policy returns
//     allow == true with an empty deny set. An undefined or malformed
//     result, an evaluation error, or allow alongside reasons is a deny
//     with a reason saying so. The default bundle requires a positive match
//     for allow, never just "no reason to deny".
//   - Reasons: every denial carries reasons that name the rule and the
//     value ("egress.classification: destination ... does not accept
//     classification \"phi\" ...").
//   - One compile per process: Decide never compiles; one egress decision
//     against a 10,000-destination whitelist is a handful of index lookups
//     (see BenchmarkEgressDecision10k).
//   - Identity: BundleInfo.SHA256 pins the exact bytes of every file of
//     the bundle (except the signature), so a decision names the policy
//     that made it.
//
// What it refuses. A bundle with a symlink or irregular file, no manifest
// revision, a Rego error, a forbidden builtin, a whitelist entry whose URL
// is not canonicalizable; with RequireSignature, a bundle that is unsigned,
// signed by another key, or whose files differ from what was signed (the
// error names the file). An egress URL that is not https or file, carries
// userinfo, a non-ASCII host, dot segments, encoded slashes, a query or a
// fragment (CanonicalURL). An input with unknown fields or without time and
// principal.
//
// This package imports nothing of pawl's own; the engine and the CLI call it.
package policies
