package sandbox

import (
	"errors"
	"fmt"
)

// wazero's decoder (v1.12.0) sizes its slices by the counts and lengths a
// module declares before it reads the entries: a 16-byte module whose code
// section declares 2^32-1 functions makes it allocate hundreds of
// gigabytes, and the Go runtime ends the whole process ("fatal error:
// runtime: out of memory"), which no recover can catch. A plugin is
// hostile until proved otherwise, so before anything is compiled the
// scanner walks the sections wazero decodes and refuses any count or
// length that needs more bytes than its section holds (every entry of a
// vector takes at least one byte), any function with more than maxLocals
// locals (declared as counts, run-length encoded: 5 bytes can declare
// four billion, which wazero expands one by one), and any content that
// runs past the end of its section (which wazero refuses too, but only
// after it has read, and allocated for, the bytes beyond). A construct the
// walk does not know (a GC type, an unusual constant expression) is left
// to wazero: the walk stops checking that section and refuses nothing
// valid.

// maxLocals bounds the locals of one function: the limit the WebAssembly
// JavaScript API sets for every engine, so no module that runs in a browser
// comes near it.
const maxLocals = 50000

// errUnknown stops the walk of a section it cannot follow.
var errUnknown = errors.New("a construct the bounds check does not follow")

func (r *reader) left() int { return len(r.b) - r.off }

// vec reads a vector length and refuses one that cannot fit in what is left.
func (r *reader) vec(what string) (uint32, error) {
	n, err := r.u32()
	if err != nil {
		return 0, fmt.Errorf("%s: count: %w", what, err)
	}
	if int64(n) > int64(r.left()) {
		return 0, fmt.Errorf("%s: %d declared, only %d bytes left in the section", what, n, r.left())
	}
	return n, nil
}

// blob skips a length-prefixed byte string (a name, a data segment).
func (r *reader) blob(what string) error {
	n, err := r.u32()
	if err != nil {
		return fmt.Errorf("%s: length: %w", what, err)
	}
	if _, err := r.bytes(n); err != nil {
		return fmt.Errorf("%s of %d bytes, only %d left in the section", what, n, r.left())
	}
	return nil
}

// skipLEB skips one LEB128 number of any width up to 64 bits.
func (r *reader) skipLEB() error {
	for i := 0; i < 10; i++ {
		c, err := r.byte()
		if err != nil {
			return err
		}
		if c&0x80 == 0 {
			return nil
		}
	}
	return errors.New("LEB128 too long")
}

// valType skips a value or reference type.
func (r *reader) valType() error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	if c == 0x63 || c == 0x64 { // (ref null ht), (ref ht)
		return r.skipLEB()
	}
	return nil
}

// funcType skips a function type: 0x60, its parameters, its results.
func (r *reader) funcType(what string) error {
	if c, err := r.byte(); err != nil {
		return err
	} else if c != 0x60 {
		return errUnknown
	}
	for _, part := range []string{"parameters", "results"} {
		k, err := r.vec(what + ": " + part)
		if err != nil {
			return err
		}
		for j := uint32(0); j < k; j++ {
			if err := r.valType(); err != nil {
				return err
			}
		}
	}
	return nil
}

// constExpr skips a constant expression up to its end opcode.
func (r *reader) constExpr() error {
	for {
		op, err := r.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			return nil
		case 0x41, 0x42, 0x23, 0xd2, 0xd0: // i32.const, i64.const, global.get, ref.func, ref.null
			err = r.skipLEB()
		case 0x43: // f32.const
			_, err = r.bytes(4)
		case 0x44: // f64.const
			_, err = r.bytes(8)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended-const arithmetic
		case 0xfd: // v128.const
			var sub uint32
			if sub, err = r.u32(); err == nil && sub != 12 {
				return errUnknown
			}
			if err == nil {
				_, err = r.bytes(16)
			}
		default:
			return errUnknown
		}
		if err != nil {
			return err
		}
	}
}

// checkBounds walks the body of a non-custom section.
func checkBounds(id byte, body []byte) error {
	err := walkSection(id, &reader{b: body})
	if errors.Is(err, errUnknown) {
		return nil
	}
	if errors.Is(err, errTruncated) {
		return fmt.Errorf("%w: the content runs past the end of the section", err)
	}
	return err
}

func walkSection(id byte, r *reader) error {
	switch id {
	case 1:
		n, err := r.vec("types")
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			c, err := r.byte()
			if err != nil {
				return err
			}
			if c != 0x4e { // not a recursive group: one function type
				r.off--
				if err := r.funcType(fmt.Sprintf("type %d", i)); err != nil {
					return err
				}
				continue
			}
			k, err := r.vec(fmt.Sprintf("type %d: recursive group", i))
			if err != nil {
				return err
			}
			for j := uint32(0); j < k; j++ {
				if err := r.funcType(fmt.Sprintf("type %d.%d", i, j)); err != nil {
					return err
				}
			}
		}
	case 2, 3, 4, 5, 6, 13: // imports (scanImports reads them), functions, tables, memories, globals, tags
		_, err := r.vec("entries")
		return err
	case 7:
		n, err := r.vec("exports")
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			if err := r.blob(fmt.Sprintf("export %d: name", i)); err != nil {
				return err
			}
			if _, err := r.byte(); err != nil {
				return err
			}
			if _, err := r.u32(); err != nil {
				return err
			}
		}
	case 9:
		n, err := r.vec("element segments")
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			if err := walkElement(r, i); err != nil {
				return err
			}
		}
	case 10:
		n, err := r.vec("function bodies")
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			size, err := r.u32()
			if err != nil {
				return err
			}
			code, err := r.bytes(size)
			if err != nil {
				return fmt.Errorf("function body %d of %d bytes, only %d left in the section", i, size, r.left())
			}
			cr := &reader{b: code}
			decls, err := cr.vec(fmt.Sprintf("function body %d: local declarations", i))
			if err != nil {
				return err
			}
			var locals uint64
			for j := uint32(0); j < decls; j++ {
				k, err := cr.u32()
				if err != nil {
					return err
				}
				if locals += uint64(k); locals > maxLocals {
					return fmt.Errorf("function body %d declares more than %d locals", i, maxLocals)
				}
				if err := cr.valType(); err != nil {
					return err
				}
			}
		}
	case 11:
		n, err := r.vec("data segments")
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			flags, err := r.u32()
			if err != nil {
				return err
			}
			switch flags {
			case 0:
				err = r.constExpr()
			case 1:
			case 2:
				if _, err = r.u32(); err == nil {
					err = r.constExpr()
				}
			default:
				return errUnknown
			}
			if err != nil {
				return err
			}
			if err := r.blob(fmt.Sprintf("data segment %d", i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func walkElement(r *reader, i uint32) error {
	flags, err := r.u32()
	if err != nil {
		return err
	}
	if flags > 7 {
		return errUnknown
	}
	if flags == 2 || flags == 6 { // table index
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	if flags&1 == 0 { // active: offset expression
		if err := r.constExpr(); err != nil {
			return err
		}
	}
	if flags&3 != 0 { // element kind or reference type
		if flags&4 == 0 {
			_, err = r.byte()
		} else {
			err = r.valType()
		}
		if err != nil {
			return err
		}
	}
	n, err := r.vec(fmt.Sprintf("element segment %d", i))
	if err != nil {
		return err
	}
	for j := uint32(0); j < n; j++ {
		if flags&4 == 0 {
			_, err = r.u32()
		} else {
			err = r.constExpr()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkNameSection walks the content of the "name" custom section (after
// its name) the way wazero decodes it: subsections 0 (module name), 1
// (function names) and 2 (local names) are read entry by entry, others
// skipped by their size, until the sizes account for the content.
func checkNameSection(content []byte) error {
	r := &reader{b: content}
	limit := uint64(len(content))
	for limit > 0 {
		id, err := r.byte()
		if err != nil {
			// The sizes claim more than the content holds: wazero would
			// read on into the sections that follow.
			return fmt.Errorf("name subsections: %w: their sizes run past the end of the section", err)
		}
		limit--
		at := r.off
		size, err := r.u32()
		if err != nil {
			return fmt.Errorf("name subsection %d: size: %w", id, err)
		}
		limit -= uint64(r.off - at)
		switch id {
		case 0:
			err = r.blob("module name")
		case 1:
			err = walkNameMap(r, "function names")
		case 2:
			var n uint32
			if n, err = r.vec("local names"); err != nil {
				return err
			}
			for i := uint32(0); i < n && err == nil; i++ {
				if _, err = r.u32(); err == nil {
					err = walkNameMap(r, fmt.Sprintf("local names %d", i))
				}
			}
		default:
			if _, err := r.bytes(size); err != nil {
				return fmt.Errorf("name subsection %d of %d bytes, only %d left in the section", id, size, r.left())
			}
		}
		if errors.Is(err, errTruncated) {
			return fmt.Errorf("name subsection %d: %w: the content runs past the end of the section", id, err)
		}
		if err != nil {
			return err
		}
		limit -= uint64(size)
	}
	return nil
}

func walkNameMap(r *reader, what string) error {
	n, err := r.vec(what)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if _, err := r.u32(); err != nil {
			return err
		}
		if err := r.blob(what + ": name"); err != nil {
			return err
		}
	}
	return nil
}
