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
// place as it grows), reaches the cap exactly, cannot pass it, and the
// mapping is gone from the process once the instance is closed.
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
	// mincore(2) fails with ENOMEM on a range that is not mapped.
	mapped := func() bool {
		vec := make([]byte, pages*65536/os.Getpagesize())
		_, _, errno := syscall.Syscall(syscall.SYS_MINCORE, before, pages*65536, uintptr(unsafe.Pointer(&vec[0])))
		if errno != 0 && errno != syscall.ENOMEM {
			t.Fatalf("mincore: %v", errno)
		}
		return errno == 0
	}
	if !mapped() {
		t.Fatalf("the %d pages at %#x are not mapped", pages, before)
	}
	in.Close(ctx)
	if mapped() {
		t.Fatal("the closed instance's memory is still mapped")
	}
}
