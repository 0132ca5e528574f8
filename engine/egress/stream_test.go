package egress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/pawl-dev/pawl/engine/store"
)

// streamedOutput writes a batch output of n bytes and returns it as a
// File to send, checked.
func streamedOutput(t *testing.T, n int) (File, []byte) {
	t.Helper()
	data := bytes.Repeat([]byte(`{"device_id":"AB-123456","value":21.5}`+"\n"), n/39+1)[:n]
	path := filepath.Join(t.TempDir(), "verified.jsonl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	d, size, err := store.HashFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return File{Name: "verified.jsonl", Hash: d, Size: size, path: path}, data
}

// change flips one byte of f's file near its end, as someone who could
// write the batch's folder might between the check and the sending.
func change(t *testing.T, f File) {
	t.Helper()
	b, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-10] ^= 0x20
	if err := os.WriteFile(f.path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOutboxStreamsAndRechecks: a batch output goes into an outbox as a
// stream, byte for byte; one that changed after it was checked fails the
// export as it is written, names the file, and leaves nothing behind.
func TestOutboxStreamsAndRechecks(t *testing.T) {
	f, data := streamedOutput(t, 3<<20+17)
	sig := heldFile("signature.json", []byte(`{"sig":"x"}`+"\n"))
	dir := t.TempDir()
	o := &outbox{dir: dir, rel: "b", prefix: "file://" + dir + "/"}
	if err := os.Mkdir(filepath.Join(dir, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	sent, err := o.Send(context.Background(), "0123456789abcdef", []File{f, sig})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "b", "verified.jsonl"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the outbox's copy is not the output (%d bytes against %d): %v", len(got), len(data), err)
	}
	if len(sent) != 2 || !sent[0].Confirmed || sent[0].Bytes != int64(len(data)) || sent[0].Hash != f.Hash {
		t.Fatalf("sent %+v", sent)
	}

	f2, _ := streamedOutput(t, 2<<20+5)
	change(t, f2)
	dir2 := t.TempDir()
	o2 := &outbox{dir: dir2, rel: "b", prefix: "file://" + dir2 + "/"}
	os.Mkdir(filepath.Join(dir2, "b"), 0o755)
	sent, err = o2.Send(context.Background(), "0123456789abcdef", []File{f2, sig})
	if err == nil || !strings.Contains(err.Error(), f2.path+" changed while it was sent") || !strings.Contains(err.Error(), string(f2.Hash)) {
		t.Fatalf("an output changed after its check: sent %+v, %v", sent, err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir2, "b")); len(left) != 0 {
		t.Fatalf("the failed export left %v in the outbox", left)
	}
}

// TestHTTPSStreamsAndRechecks: a batch output is PUT as a stream of its
// declared length; one that changed after it was checked fails the
// request (the destination never gets a complete body to confirm) and
// the export with it, before the signature is sent.
func TestHTTPSStreamsAndRechecks(t *testing.T) {
	var mu sync.Mutex
	received := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		received[r.URL.Path] = b
		mu.Unlock()
		sum := sha256.Sum256(b)
		w.Header().Set(HashHeader, "sha256:"+hex.EncodeToString(sum[:]))
	}))
	defer srv.Close()
	h := &httpsDest{base: srv.URL + "/in/", client: srv.Client()}
	sig := heldFile("signature.json", []byte(`{"sig":"x"}`+"\n"))

	f, data := streamedOutput(t, 3<<20+17)
	sent, err := h.Send(context.Background(), "0123456789abcdef", []File{f, sig})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(received["/in/verified.jsonl"], data) || len(sent) != 2 || !sent[0].Confirmed {
		t.Fatalf("the destination holds %d bytes of %d; sent %+v", len(received["/in/verified.jsonl"]), len(data), sent)
	}

	clear(received)
	f2, data2 := streamedOutput(t, 2<<20+5)
	change(t, f2)
	sent, err = h.Send(context.Background(), "0123456789abcdef", []File{f2, sig})
	if err == nil || !strings.Contains(err.Error(), "changed while it was sent") || len(sent) != 0 {
		t.Fatalf("an output changed after its check: sent %+v, %v", sent, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if _, ok := received["/in/signature.json"]; ok {
		t.Error("the signature was sent after the output failed")
	}
	if b, ok := received["/in/verified.jsonl"]; ok {
		t.Errorf("the destination read a whole body of the changed output (%d bytes of %d)", len(b), len(data2))
	}
}

// TestCheckedFileHoldsBackAChangedEnd: read as it is sent, an output that
// changed after its check (the same length with a byte changed, grown,
// cut short) gives out fewer bytes than it declared and then an error
// naming it; the unchanged one gives out exactly its bytes, then io.EOF.
func TestCheckedFileHoldsBackAChangedEnd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func([]byte) []byte
		want   string
	}{
		{"unchanged", func(b []byte) []byte { return b }, ""},
		{"a byte changed", func(b []byte) []byte { b[3] ^= 1; return b }, "hash to sha256:"},
		{"the last byte changed", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, "hash to sha256:"},
		{"grown", func(b []byte) []byte { return append(b, '\n') }, "grew past the"},
		{"cut short", func(b []byte) []byte { return b[:len(b)-1] }, "ended after 4098 of the 4099 bytes checked"},
		{"empty, unchanged", func(b []byte) []byte { return b[:0] }, ""},
		{"empty, then written", func(b []byte) []byte { return append(b[:0], 'x') }, "grew past the 0 bytes checked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, data := streamedOutput(t, 4099)
			if strings.HasPrefix(tc.name, "empty") {
				f, data = streamedOutput(t, 0)
			}
			if err := os.WriteFile(f.path, tc.change(bytes.Clone(data)), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := f.open()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(iotest.OneByteReader(r))
			if tc.want == "" {
				if err != nil || !bytes.Equal(got, data) || !r.(*checkedFile).whole.Load() {
					t.Fatalf("read %d bytes of %d: %v (whole: %v)", len(got), len(data), err, r.(*checkedFile).whole.Load())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), f.path+" changed while it was sent") {
				t.Fatalf("read %d bytes: %v, want an error saying %q", len(got), err, tc.want)
			}
			if int64(len(got)) >= max(f.Size, 1) { // fewer than declared, or none of an empty one
				t.Fatalf("gave out %d bytes of a changed file of %d declared", len(got), f.Size)
			}
			if n, err2 := r.Read(make([]byte, 8)); n != 0 || err2 != err {
				t.Fatalf("read again: %d, %v; want the same error", n, err2)
			}
		})
	}
}

// TestHTTPSAnswerBeforeTheWholeFileIsNoExport: a destination that answers
// 2xx, echoing the hash it was told, before it has read the file is not an
// export of it: the file did not go out whole and checked.
func TestHTTPSAnswerBeforeTheWholeFileIsNoExport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HashHeader, r.Header.Get(HashHeader)) // says it holds what it was told
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	h := &httpsDest{base: srv.URL + "/in/", client: srv.Client()}
	f, _ := streamedOutput(t, 8<<20)
	sent, err := h.Send(context.Background(), "0123456789abcdef", []File{f, heldFile("signature.json", []byte("{}\n"))})
	if err == nil {
		t.Fatalf("an answer before the body was read counted as an export: %+v", sent)
	}
	for _, s := range sent {
		if s.Confirmed {
			t.Fatalf("confirmed %+v on an early answer (%v)", s, err)
		}
	}
}
