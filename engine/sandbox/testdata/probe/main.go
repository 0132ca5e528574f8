//go:build wasip1

// Command probe is a test plugin in Go that looks for the host and reports
// what it saw: the environment, the arguments, a file, the directory, the
// host name, the clocks, crypto/rand, math/rand and map order. Every
// record gets a reason whose message is those observations plus fresh
// random numbers, so two runs with the same seed must agree byte for byte.
// A record whose value is 13 makes it panic (a trap to bisect to).
package main

import (
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/plugins/pdk"
)

type probe struct{ seen string }

func (p *probe) Init(in pdk.Init) error {
	var b strings.Builder
	fmt.Fprintf(&b, "env=%d args=%d", len(os.Environ()), len(os.Args))
	_, err := os.ReadFile("/etc/passwd")
	fmt.Fprintf(&b, " file=%v", err != nil)
	_, err = os.ReadDir(".")
	fmt.Fprintf(&b, " dir=%v", err != nil)
	host, err := os.Hostname()
	fmt.Fprintf(&b, " host=%q/%v", host, err != nil)
	fmt.Fprintf(&b, " now=%s asof=%s", time.Now().UTC().Format(time.RFC3339Nano), in.AsOf.Format(time.RFC3339Nano))
	var c [8]byte
	_, _ = crand.Read(c[:])
	fmt.Fprintf(&b, " crand=%s", hex.EncodeToString(c[:]))
	m := map[int]bool{}
	for i := 0; i < 16; i++ {
		m[i] = true
	}
	b.WriteString(" map=")
	for k := range m {
		fmt.Fprintf(&b, "%d,", k)
	}
	t0 := time.Now()
	time.Sleep(time.Millisecond)
	fmt.Fprintf(&b, " slept=%v", time.Since(t0) >= time.Millisecond)
	p.seen = b.String()
	fmt.Println("probe init:", p.seen)
	return nil
}

func (p *probe) Validate(b *pdk.Batch, r *pdk.Result) {
	vals := b.Numbers(0)
	for i := 0; i < b.N; i++ {
		v, _ := vals.Get(i)
		if v == 13 {
			panic(fmt.Sprintf("probe: record %d has the unlucky value 13", b.First+uint64(i)))
		}
		r.Reject(i, 0, "probe.seen", fmt.Sprintf("%s rand=%d", p.seen, rand.Uint64()))
	}
}

func init() { pdk.Register(&probe{}) }

func main() {}
