package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unicode/utf8"
)

// DecodeJSON decodes one JSON document the way pawl reads schemas: strict
// UTF-8, numbers as json.Number, no repeated object keys, nothing after the
// value. It is exported so that a [Options.Load] function can decode the
// documents it serves exactly as [Compile] does.
func DecodeJSON(data []byte) (any, error) {
	if !utf8.Valid(data) {
		off := invalidUTF8Offset(data)
		line, col := lineCol(data, off)
		return nil, fmt.Errorf("invalid UTF-8 at line %d, column %d (byte offset %d)", line, col, off)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, data)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = offsetError{dec.InputOffset(), errors.New("unexpected data after the top-level JSON value")}
		}
	}
	if err != nil {
		return nil, describeJSONError(data, err)
	}
	return v, nil
}

type offsetError struct {
	off int64
	err error
}

func (e offsetError) Error() string { return e.err.Error() }

func decodeValue(dec *json.Decoder, data []byte) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := map[string]any{}
			for dec.More() {
				// InputOffset is still before the separator; skip it so the
				// reported column is the key's own.
				keyOff := dec.InputOffset()
				for keyOff < int64(len(data)) && strings.IndexByte(", \t\r\n", data[keyOff]) >= 0 {
					keyOff++
				}
				ktok, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key := ktok.(string) // the decoder only yields strings in key position
				if _, dup := obj[key]; dup {
					// encoding/json would keep the last value silently; a
					// contract whose meaning depends on that is ambiguous.
					return nil, offsetError{keyOff, fmt.Errorf("object key %q appears more than once", key)}
				}
				val, err := decodeValue(dec, data)
				if err != nil {
					return nil, err
				}
				obj[key] = val
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, err
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				val, err := decodeValue(dec, data)
				if err != nil {
					return nil, err
				}
				arr = append(arr, val)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %q", rune(t))
	default:
		return tok, nil
	}
}

// describeJSONError adds the line and column to a decoding error, because a
// byte offset alone is useless to someone editing the file.
func describeJSONError(data []byte, err error) error {
	var off int64 = -1
	var syn *json.SyntaxError
	var oe offsetError
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &oe):
		off = oe.off
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		if len(bytes.TrimSpace(data)) == 0 {
			return errors.New("file is empty, want a JSON schema")
		}
		off = int64(len(data))
		err = errors.New("unexpected end of JSON input")
	}
	if off < 0 {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	line, col := lineCol(data, int(off))
	return fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, err)
}

func lineCol(data []byte, off int) (line, col int) {
	if off > len(data) {
		off = len(data)
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

func invalidUTF8Offset(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// readSchemaFile reads and decodes a schema file, phrasing every failure as
// one line that says what is wrong with which file. It returns the sha256
// of the bytes it decoded ("sha256:" and hex), so that what was compiled
// can be checked against a pin with no window between hashing and reading.
func readSchemaFile(path string) (any, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, "", errors.New("file does not exist")
		case errors.Is(err, fs.ErrPermission):
			return nil, "", errors.New("file is not readable (permission denied)")
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the caller's prefix
		}
		return nil, "", fmt.Errorf("cannot read file: %v", err)
	}
	sum := sha256.Sum256(data)
	doc, err := DecodeJSON(data)
	return doc, "sha256:" + hex.EncodeToString(sum[:]), err
}

// fileURL turns an absolute path into the file: URL the library uses as the
// schema's base URI, so relative $refs resolve against the schema's directory.
func fileURL(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive letters
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}

// RefusedError is returned (wrapped) by [Compile] when a schema refers to a
// document pawl will not load.
type RefusedError struct {
	URL    string // the absolute URL as resolved against the referring schema
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("reference to %q refused: %s", e.URL, e.Reason)
}

// dirLoader serves file: URLs under one directory and refuses everything
// else, because pawl runs air-gapped and a contract must not depend on what a
// remote server happens to return.
type dirLoader struct {
	dir     string            // absolute, as given
	realDir string            // with symlinks resolved
	files   map[string]string // every file loaded: its path and the sha256 of the bytes compiled
}

func newDirLoader(dir string) *dirLoader {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		real = dir
	}
	return &dirLoader{dir: dir, realDir: real, files: map[string]string{}}
}

func (l *dirLoader) load(raw string) (any, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &RefusedError{raw, fmt.Sprintf("not a valid URL: %v", err)}
	}
	if u.Scheme != "file" {
		return nil, &RefusedError{raw, fmt.Sprintf(
			"pawl runs air-gapped and never fetches schemas from the network; "+
				"$ref may resolve only to the built-in JSON Schema metaschemas or to files under %q", l.dir)}
	}
	if u.Host != "" && u.Host != "localhost" {
		return nil, &RefusedError{raw, fmt.Sprintf("file URL names host %q; only local files under %q may be referenced", u.Host, l.dir)}
	}
	p := u.Path
	if runtime.GOOS == "windows" {
		p = strings.TrimPrefix(p, "/")
	}
	p = filepath.Clean(filepath.FromSlash(p))
	if !within(l.dir, p) {
		return nil, &RefusedError{raw, fmt.Sprintf("file %q is outside the schema's directory %q", p, l.dir)}
	}
	// A symlink inside the directory could still lead out of it.
	if real, err := filepath.EvalSymlinks(p); err == nil && !within(l.realDir, real) {
		return nil, &RefusedError{raw, fmt.Sprintf("file %q resolves (through a symlink) to %q, outside the schema's directory %q", p, real, l.dir)}
	}
	doc, sum, err := readSchemaFile(p)
	if err != nil {
		return nil, fmt.Errorf("referenced schema file %q: %v", p, err)
	}
	l.files[p] = sum
	return doc, nil
}

func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
