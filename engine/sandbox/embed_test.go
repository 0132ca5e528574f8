package sandbox

import (
	"bytes"
	"strings"
	"testing"
)

// EmbedManifest: the payload is manifest.json byte for byte without its
// trailing newlines, exactly once, and checked.
func TestEmbedManifest(t *testing.T) {
	empty := []byte("\x00asm\x01\x00\x00\x00")
	manifest := "{\"abi\": 1, \"name\": \"x\", \"version\": \"0.1.0\", \"mode\": \"stateless\",\n \"fields\": [{\"name\": \"value\", \"pointer\": \"/value\", \"type\": \"string\"}]}"
	one, err := EmbedManifest(empty, []byte(manifest+"\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := scanModule(one)
	if err != nil {
		t.Fatal(err)
	}
	if len(mod.customs) != 1 || mod.customs[0].name != ManifestSection || string(mod.customs[0].data) != manifest {
		t.Fatalf("sections %+v: want one %s of the file without its trailing newlines", mod.customs, ManifestSection)
	}
	same, _ := EmbedManifest(empty, []byte(manifest))
	if !bytes.Equal(one, same) {
		t.Fatal("a trailing newline changed the module's bytes")
	}
	if _, err := EmbedManifest(one, []byte(manifest)); err == nil || !strings.Contains(err.Error(), "already has") {
		t.Fatalf("a second manifest: %v", err)
	}
	if _, err := EmbedManifest(empty, []byte(`{"abi": 1, "name": "x"}`)); err == nil || !strings.Contains(err.Error(), "manifest of x@") {
		t.Fatalf("a manifest without version or fields: %v", err)
	}
	if _, err := EmbedManifest([]byte("\x7fELF"), []byte(manifest)); err == nil || !strings.Contains(err.Error(), "not a WebAssembly") {
		t.Fatalf("not wasm: %v", err)
	}
}
