package canonjson_test

import (
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/records"
)

var benchInputs = []struct{ name, text string }{
	{"record", `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`},
	{"nested", `{"id":"x\u00e9\n","tags":["a","b","c"],"pos":{"lat":52.1,"lon":-4.25e0},"ok":true,"n":null}`},
	{"details", `{"job":"sensor-feed","batch_id":"0f3a9c","input":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",` +
		`"counts":{"read":1000,"verified":998,"quarantined":2,"rules":{"schema.type":1,"unicode.bidi":1}},` +
		`"outputs":{"verified.jsonl":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae","quarantine.jsonl":"sha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"},` +
		`"lineage":{"root":"b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c","size":1000},"as_of":"2026-11-24T00:00:00Z"}`},
	{"long-strings", `{"note":"` + strings.Repeat("Calibrated against reference probe 7; drift within tolerance. ", 20) +
		`","error":"` + strings.Repeat("open /data/in/part-0001.jsonl: permission denied; ", 10) + `"}`},
}

// BenchmarkAppend writes decoded values, as the ratchet writes every
// verified record. (Measured against the encoder it replaced in
// BENCHMARKS.md.)
func BenchmarkAppend(b *testing.B) {
	for _, in := range benchInputs {
		v, derr := records.DecodeJSON([]byte(in.text), records.DecodeOptions{})
		if derr != nil {
			b.Fatal(derr)
		}
		for _, impl := range []struct {
			name string
			fn   func([]byte, any) []byte
		}{{"canonjson", canonjson.Append}} {
			b.Run(in.name+"/"+impl.name, func(b *testing.B) {
				var out []byte
				b.ReportAllocs()
				for b.Loop() {
					out = impl.fn(out[:0], v)
				}
				b.SetBytes(int64(len(out)))
			})
		}
	}
}

// BenchmarkCanonicalize canonicalizes texts as written (keys out of order,
// escapes) and already canonical (the re-check on verification). (Measured
// against the encoder it replaced in BENCHMARKS.md.)
func BenchmarkCanonicalize(b *testing.B) {
	for _, in := range benchInputs {
		canon, err := canonjson.Canonicalize([]byte(in.text))
		if err != nil {
			b.Fatal(err)
		}
		for _, text := range []struct {
			name string
			b    []byte
		}{{in.name, []byte(in.text)}, {in.name + "-canonical", canon}} {
			for _, impl := range []struct {
				name string
				fn   func([]byte) ([]byte, error)
			}{{"canonjson", canonjson.CanonicalizeObject}} {
				b.Run(text.name+"/"+impl.name, func(b *testing.B) {
					b.SetBytes(int64(len(text.b)))
					b.ReportAllocs()
					for b.Loop() {
						if _, err := impl.fn(text.b); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
