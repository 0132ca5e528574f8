package version

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"sync"
)

var buildID struct {
	once sync.Once
	id   string
}

// BuildID is the Go build ID of the running executable's file (what `go
// tool buildid` prints: a hash of the build's inputs and of its output),
// read from its ELF note without reading the rest of the file; "" when
// the file has none or is not ELF. It tells one build from another where
// the version strings cannot (two builds of a modified checkout), for
// facts a later process may reuse only under the same build.
func BuildID() string {
	buildID.once.Do(func() {
		path, err := os.Executable()
		if err != nil {
			return
		}
		buildID.id = elfBuildID(path)
	})
	return buildID.id
}

// elfBuildID reads the .note.go.buildid note: name size, descriptor size
// and type (4 bytes each, little-endian on every platform Go writes ELF
// for here), the name "Go\x00\x00", then the ID.
func elfBuildID(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := f.Section(".note.go.buildid")
	if s == nil || s.Size > 4096 {
		return ""
	}
	b, err := s.Data()
	if err != nil || len(b) < 16 {
		return ""
	}
	bo := f.ByteOrder
	if bo == nil {
		bo = binary.LittleEndian
	}
	nameSize, descSize, typ := bo.Uint32(b[0:]), bo.Uint32(b[4:]), bo.Uint32(b[8:])
	if nameSize != 4 || typ != 4 || !bytes.Equal(b[12:16], []byte("Go\x00\x00")) || int(descSize) > len(b)-16 {
		return ""
	}
	return string(b[16 : 16+descSize])
}
