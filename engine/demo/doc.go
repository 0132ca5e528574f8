// Package demo makes pawl's demonstration data: SensorReading JSONL with
// realistic defects mixed in at a chosen rate (a value of "hot", an extra
// field, a malformed device id, invisible and bidi characters, invalid
// UTF-8, stale and spiking readings), and the device registry the example
// job's registry validator reads. The same options and seed always give
// the same bytes, so a demo or a benchmark is the same batch every time.
// It is used by `pawl demo`, the benchmarks and the tests; nothing in the
// ratchet depends on it.
package demo
