package sandbox

import (
	"bytes"
	"errors"
	"fmt"
)

// The scanner reads just enough of the WebAssembly binary format to find
// custom sections and imports before anything is compiled: a plugin that
// imports what it may not is refused without wazero ever seeing its code.

type customSection struct {
	name string
	data []byte
}

type importEntry struct {
	module, name string
	kind         byte // 0 func, 1 table, 2 memory, 3 global, 4 tag
}

type moduleInfo struct {
	customs []customSection
	imports []importEntry
}

var wasmHeader = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

var errTruncated = errors.New("truncated")

type reader struct {
	b   []byte
	off int
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) u32() (uint32, error) {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			if shift == 28 && c > 0x0f {
				return 0, errors.New("LEB128 u32 overflows")
			}
			return v, nil
		}
	}
	return 0, errors.New("LEB128 u32 too long")
}

func (r *reader) bytes(n uint32) ([]byte, error) {
	if uint64(r.off)+uint64(n) > uint64(len(r.b)) {
		return nil, errTruncated
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s, nil
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	return string(b), err
}

func (r *reader) limits() error {
	flag, err := r.byte()
	if err != nil {
		return err
	}
	if _, err := r.u32(); err != nil {
		return err
	}
	if flag&1 != 0 {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}

// scanModule walks the section headers of a module, reads its custom
// sections and imports, and checks the bounds of what wazero will decode
// (wasmbounds.go).
func scanModule(wasm []byte) (*moduleInfo, error) {
	if len(wasm) < len(wasmHeader) || !bytes.Equal(wasm[:8], wasmHeader) {
		return nil, errors.New("not a WebAssembly 1.0 module (bad magic or version)")
	}
	r := &reader{b: wasm, off: 8}
	info := &moduleInfo{}
	names := false
	for r.off < len(wasm) {
		start := r.off
		id, _ := r.byte()
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("section at byte %d: size: %w", start, err)
		}
		body, err := r.bytes(size)
		if err != nil {
			return nil, fmt.Errorf("section %d at byte %d: %d bytes declared, %d left", id, start, size, len(wasm)-r.off)
		}
		sr := &reader{b: body}
		switch id {
		case 0:
			name, err := sr.name()
			if err != nil {
				return nil, fmt.Errorf("custom section at byte %d: name: %w", start, err)
			}
			if name == "name" && !names {
				names = true // wazero decodes the first one and refuses another
				if err := checkNameSection(body[sr.off:]); err != nil {
					return nil, fmt.Errorf("custom section at byte %d: %q: %w", start, name, err)
				}
			}
			info.customs = append(info.customs, customSection{name: name, data: body[sr.off:]})
		case 2:
			if err := scanImports(sr, info); err != nil {
				return nil, fmt.Errorf("import section at byte %d: %w", start, err)
			}
		}
		if id != 0 {
			if err := checkBounds(id, body); err != nil {
				return nil, fmt.Errorf("section %d at byte %d: %w", id, start, err)
			}
		}
	}
	return info, nil
}

func scanImports(r *reader, info *moduleInfo) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		mod, err := r.name()
		if err != nil {
			return err
		}
		name, err := r.name()
		if err != nil {
			return err
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		switch kind {
		case 0: // func: type index
			_, err = r.u32()
		case 1: // table: reftype + limits
			if _, err = r.byte(); err == nil {
				err = r.limits()
			}
		case 2: // memory: limits
			err = r.limits()
		case 3: // global: valtype + mutability
			if _, err = r.byte(); err == nil {
				_, err = r.byte()
			}
		case 4: // tag (exception handling): attribute + type index
			if _, err = r.byte(); err == nil {
				_, err = r.u32()
			}
		default:
			return fmt.Errorf("import %s.%s: unknown kind 0x%02x", mod, name, kind)
		}
		if err != nil {
			return fmt.Errorf("import %s.%s: %w", mod, name, err)
		}
		info.imports = append(info.imports, importEntry{module: mod, name: name, kind: kind})
	}
	return nil
}

var importKinds = [...]string{"function", "table", "memory", "global", "tag"}

// AppendCustomSection returns wasm with a custom section appended: id 0,
// the LEB128 size, the name, the payload. Appending is deterministic, and
// a module may carry custom sections anywhere, so the result is the same
// module plus the section. build/plugins.sh uses it (through
// plugins/internal/addsection) to embed a plugin's manifest.
func AppendCustomSection(wasm []byte, name string, payload []byte) []byte {
	var content []byte
	content = appendU32(content, uint32(len(name)))
	content = append(content, name...)
	content = append(content, payload...)
	out := append([]byte{}, wasm...)
	out = append(out, 0)
	out = appendU32(out, uint32(len(content)))
	return append(out, content...)
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}
