//go:build linux

package sandbox

import (
	"context"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// TestGuestMemoryIsMappedNotCopied: an instance's linear memory lives in a
// mapping of its own (memory_linux.go). A guest that grows to its cap
// keeps the address it started at (wazero's own memory is copied to a new
// place as it grows) and reaches the cap exactly; once the instance is
// closed none of its pages is resident, and the next instance of that size
// gets the mapping back, reading as zeros.
func TestGuestMemoryIsMappedNotCopied(t *testing.T) {
	const pages = 64
	rt := newRuntime(t, Config{MemoryLimitPages: pages})
	p := load(t, rt, "capfill")
	ctx := context.Background()
	in, err := p.NewInstance(ctx, InstanceConfig{AsOf: asOf, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	base := func() uintptr {
		b, ok := in.mem.Read(0, 1)
		if !ok {
			t.Fatal("no memory")
		}
		return uintptr(unsafe.Pointer(&b[0]))
	}
	before, size := base(), in.MemoryBytes()
	v, err := in.Validate(ctx, numbers(1, 2, 3))
	if err != nil || len(v) != 3 {
		t.Fatalf("validate: %d verdicts, %v", len(v), err)
	}
	if got := in.MemoryBytes(); size >= got || got != pages*65536 {
		t.Fatalf("memory %d bytes before, %d after: not grown to its cap of %d pages", size, got, pages)
	}
	if after := base(); after != before {
		t.Fatalf("the memory moved from %#x to %#x as it grew", before, after)
	}
	// mincore(2): which of the pages are resident.
	resident := func() int {
		vec := make([]byte, pages*65536/os.Getpagesize())
		if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, before, pages*65536, uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
			t.Fatalf("mincore: %v", errno)
		}
		n := 0
		for _, v := range vec {
			n += int(v & 1)
		}
		return n
	}
	if n := resident(); n < len(make([]byte, pages*65536/os.Getpagesize()))/2 {
		t.Fatalf("%d pages resident after the guest wrote to all of them", n)
	}
	in.Close(ctx)
	if n := resident(); n != 0 {
		t.Fatalf("%d pages of the closed instance's memory still resident", n)
	}
	// Its mapping is kept for the next instance, whose memory reads as zeros.
	next, err := p.NewInstance(ctx, InstanceConfig{AsOf: asOf, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close(ctx)
	if b, ok := next.mem.Read(0, next.MemoryBytes()); !ok || uintptr(unsafe.Pointer(&b[0])) != before {
		t.Fatalf("the next instance's memory is not the closed one's mapping")
	} else {
		for i := 4096; i < len(b); i += 4096 {
			if b[i] != 0 {
				t.Fatalf("byte %d of the next instance's memory is %d, not 0", i, b[i])
			}
		}
	}
}
