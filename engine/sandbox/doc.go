// Package sandbox is pawl's WebAssembly host: it loads validator plugins
// under wazero and runs them over batches of records in columns.
//
// A plugin is one .wasm file whose manifest (name, version, ABI version,
// the fields it reads, stateless or ordered, the schema of its config)
// lives inside it as the custom section "pawl.manifest", so the sha256 pin
// covers it. docs/plugin-abi.md is the reference for the ABI (version 1).
//
// # Guarantees
//
//   - Load checks the sha256 pin before it does anything else with the
//     bytes, and the imports before anything is compiled.
//   - A plugin sees no filesystem, environment, arguments, network, host
//     clock or host entropy. Its wall clock stands at the batch's as-of
//     time, its monotonic clock is a counter, its random bytes come from
//     ChaCha8 keyed by the seed: the same plugin, config, lookup files,
//     as-of, seed and batches give the same verdicts, bit for bit.
//   - Each instance is capped in memory (Config.MemoryLimitPages), each
//     call in time (Config.CallTimeout), each result in size
//     (Config.MaxResultBytes), each instance's output (Config.MaxOutputBytes).
//   - A failure never takes the host down and is reported as an *Error that
//     names the plugin (name@version), the operation and what the plugin
//     did. A deterministic trap is Deterministic (bisect with Bisect and
//     quarantine the record); a timeout, resource exhaustion or ABI
//     violation fails the batch.
//   - Compiled code is cached on disk only in a private (0700, owned)
//     directory, per cache key and plugin sha256, and used only when its
//     HMAC-SHA256 under Config.CacheKey, bound to the module's sha256,
//     matches the bytes handed to wazero: those are a copy in a stage
//     directory (Config.StageDir), hashed while copied, so the cache can
//     change after the check without effect. An entry that fails is
//     deleted, the module compiled afresh, and the rejection reported
//     (Runtime.TakeCacheRejections) for the caller to put on record.
//     cache.go says what of wazero's cache layout this relies on.
//
// # What it refuses
//
// A module whose bytes do not match the pin; one that is not WebAssembly,
// has no manifest or two, a malformed manifest or another ABI version; one
// that imports anything but pawl.log and the WASI preview1 subset listed
// in allowedWASI (the refusal names the import); one that imports a
// memory, table or global; one that lacks the ABI's exports; one that
// declares more entries or bytes than its sections hold, or a function
// with more than 50,000 locals (wazero would allocate for the declared
// counts before reading them, and an allocation the machine cannot make
// ends the process: wasmbounds.go).
//
// # Use
//
//	rt, _ := sandbox.NewRuntime(ctx, sandbox.Config{CacheDir: cacheDir, CacheKey: key, StageDir: stageDir})
//	p, _ := rt.Load(ctx, wasmBytes, "sha256:…")
//	in, _ := p.NewInstance(ctx, sandbox.InstanceConfig{Config: cfg, AsOf: asOf, Seed: seed})
//	verdicts, err := in.Validate(ctx, batch) // batch.Columns follow p.Manifest().Fields
//
// A caller that validates chunk after chunk keeps its batch and verdicts
// and has them made again in the same arrays: batch = batch.Reuse(fields,
// n), verdicts, err = in.ValidateInto(ctx, batch, verdicts).
//
// Instances are not safe for concurrent use: one per goroutine, fresh for
// each run. Stateless plugins may run on many instances at once; ordered
// plugins on one instance, in record order.
//
// The package imports nothing of pawl's: it is a leaf.
package sandbox
