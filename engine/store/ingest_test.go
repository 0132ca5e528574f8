package store

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIngestStoresWhatWasRead(t *testing.T) {
	s := newStore(t)
	content := []byte(strings.Repeat("0123456789abcdef\n", 40_000))
	path := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(path, content, 0o644)
	d, n, err := HashFile(path)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("read to the end, then committed", func(t *testing.T) {
		g, err := s.Ingest(path, d, n)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		got, err := io.ReadAll(bufio.NewReaderSize(g, 4096))
		if err != nil || string(got) != string(content) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		// ReadAt reads the copy of what was read, and nothing past it.
		b := make([]byte, 17)
		if _, err := g.ReadAt(b, 17*1000); err != nil || string(b) != "0123456789abcdef\n" {
			t.Fatalf("ReadAt = %q, %v", b, err)
		}
		if _, err := g.ReadAt(b, n-5); err == nil {
			t.Fatal("ReadAt past what was read succeeded")
		}
		if err := g.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(d); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("committed without being read", func(t *testing.T) {
		s2 := newStore(t)
		g, err := s2.Ingest(path, d, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Commit(); err != nil || g.Close() != nil {
			t.Fatal(err)
		}
		if err := s2.Verify(d); err != nil {
			t.Fatal(err)
		}
		if names := tmpEntries(t, s2); len(names) != 0 {
			t.Errorf("tmp not empty: %v", names)
		}
	})
	for _, c := range []struct{ name, change, want string }{
		{"same size, another byte", strings.Replace(string(content), "9", "8", 1), "read 680000 bytes (sha256:"},
		{"grown", string(content) + "more\n", "had grown to 680005 bytes"},
		{"cut short", string(content[:1000]), "read 1000 bytes"},
	} {
		t.Run("changed after it was hashed: "+c.name, func(t *testing.T) {
			s2 := newStore(t)
			g, err := s2.Ingest(path, d, n)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(path, []byte(c.change), 0o644)
			defer os.WriteFile(path, content, 0o644)
			_, err = io.Copy(io.Discard, g)
			if !errors.Is(err, ErrInputChanged) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("reading a changed input: %v; want ErrInputChanged naming the file and %q", err, c.want)
			}
			if cerr := g.Commit(); !errors.Is(cerr, ErrInputChanged) {
				t.Fatalf("Commit after a changed input = %v", cerr)
			}
			g.Close()
			if s2.Has(d) {
				t.Fatal("a changed input was stored under the digest of what it was")
			}
			if names := tmpEntries(t, s2); len(names) != 0 {
				t.Errorf("tmp not empty: %v", names)
			}
		})
	}
}
