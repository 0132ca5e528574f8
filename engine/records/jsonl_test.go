package records

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type wantRec struct {
	ordinal, line, offset, length int64
	raw                           string
	tooLong                       bool
}

func readAll(t *testing.T, r Reader) []*Record {
	t.Helper()
	var recs []*Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return recs
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		recs = append(recs, rec)
		if len(recs) > 1e6 {
			t.Fatal("reader does not terminate")
		}
	}
}

func TestJSONLReaderFraming(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		max   int64
		want  []wantRec
		blank int64
	}{
		{"empty file", "", 0, nil, 0},
		{"only newline", "\n", 0, nil, 1},
		{"no trailing newline", "{\"a\":1}\n{\"b\":2}", 0, []wantRec{
			{1, 1, 0, 7, `{"a":1}`, false},
			{2, 2, 8, 7, `{"b":2}`, false},
		}, 0},
		{"CRLF lines", "{}\r\n[1]\r\n", 0, []wantRec{
			{1, 1, 0, 2, `{}`, false},
			{2, 2, 4, 3, `[1]`, false},
		}, 0},
		{"blank lines counted, offsets and lines exact", "\n{}\n\r\n\n  \nx\r", 0, []wantRec{
			{1, 2, 1, 2, `{}`, false},
			{2, 5, 7, 2, `  `, false},
			{3, 6, 10, 2, "x\r", false}, // a CR at end of input is data
		}, 3},
		{"lone CR at end is blank", "{}\n\r", 0, []wantRec{{1, 1, 0, 2, `{}`, false}}, 1},
		{"BOM stays in record 1", "\xEF\xBB\xBF{}\n{}\n", 0, []wantRec{
			{1, 1, 0, 5, "\xEF\xBB\xBF{}", false},
			{2, 2, 6, 2, `{}`, false},
		}, 0},
		{"NUL bytes are data", "{\"a\":\x00}\n\x00\n", 0, []wantRec{
			{1, 1, 0, 7, "{\"a\":\x00}", false},
			{2, 2, 8, 1, "\x00", false},
		}, 0},
		{"too long line skipped", "{}\n0123456789A\n{}\n", 10, []wantRec{
			{1, 1, 0, 2, `{}`, false},
			{2, 2, 3, 11, "", true},
			{3, 3, 15, 2, `{}`, false},
		}, 0},
		{"too long with CRLF", "0123456789AB\r\n{}", 10, []wantRec{
			{1, 1, 0, 12, "", true},
			{2, 2, 14, 2, `{}`, false},
		}, 0},
		{"exactly max with CRLF is not too long", "0123456789\r\n{}", 10, []wantRec{
			{1, 1, 0, 10, "0123456789", false},
			{2, 2, 12, 2, `{}`, false},
		}, 0},
		{"too long at end without newline", "{}\n0123456789AB", 10, []wantRec{
			{1, 1, 0, 2, `{}`, false},
			{2, 2, 3, 12, "", true},
		}, 0},
	}
	for _, tt := range tests {
		for _, chunked := range []bool{false, true} {
			name := tt.name
			if chunked {
				name += "/one byte reads"
			}
			t.Run(name, func(t *testing.T) {
				var src io.Reader = strings.NewReader(tt.in)
				if chunked {
					src = iotest.OneByteReader(src)
				}
				r := NewJSONLReader(src, Options{MaxRecordBytes: tt.max})
				recs := readAll(t, r)
				if len(recs) != len(tt.want) {
					t.Fatalf("got %d records, want %d", len(recs), len(tt.want))
				}
				for i, w := range tt.want {
					g := recs[i]
					if g.Ordinal != w.ordinal || g.Line != w.line || g.Offset != w.offset || g.Length != w.length || g.TooLong != w.tooLong {
						t.Errorf("record %d = {ord %d line %d off %d len %d tooLong %v}, want {%d %d %d %d %v}",
							i, g.Ordinal, g.Line, g.Offset, g.Length, g.TooLong, w.ordinal, w.line, w.offset, w.length, w.tooLong)
					}
					if w.tooLong {
						if g.Raw != nil {
							t.Errorf("record %d: TooLong with Raw %q", i, g.Raw)
						}
					} else if string(g.Raw) != w.raw {
						t.Errorf("record %d: Raw %q, want %q", i, g.Raw, w.raw)
					}
				}
				if b := r.(*JSONLReader).BlankLines(); b != tt.blank {
					t.Errorf("BlankLines = %d, want %d", b, tt.blank)
				}
				if n := r.BytesRead(); n != int64(len(tt.in)) {
					t.Errorf("BytesRead = %d, want %d", n, len(tt.in))
				}
			})
		}
	}
}

func TestJSONLReaderRawNotReused(t *testing.T) {
	r := NewJSONLReader(strings.NewReader("aaaa\nbbbb\n"), Options{})
	a, _ := r.Next()
	b, _ := r.Next()
	if string(a.Raw) != "aaaa" || string(b.Raw) != "bbbb" {
		t.Fatalf("Raw overwritten: %q %q", a.Raw, b.Raw)
	}
}

func TestJSONLReader20MBLine(t *testing.T) {
	big := make([]byte, 20<<20)
	for i := range big {
		big[i] = 'x'
	}
	big[0], big[len(big)-1] = '"', '"'
	in := append(append([]byte("{}\n"), big...), "\n{}\n"...)
	r := NewJSONLReader(bytes.NewReader(in), Options{})
	recs := readAll(t, r)
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	if recs[1].TooLong || recs[1].Length != int64(len(big)) || !bytes.Equal(recs[1].Raw, big) || recs[1].Offset != 3 {
		t.Fatalf("20 MB record: TooLong %v Length %d Offset %d", recs[1].TooLong, recs[1].Length, recs[1].Offset)
	}
	if _, err := DecodeJSON(recs[1].Raw, DecodeOptions{}); err != nil {
		t.Fatalf("20 MB string: %v", err)
	}
	if recs[2].Offset != int64(3+len(big)+1) || recs[2].Line != 3 {
		t.Fatalf("record after the big line at offset %d line %d", recs[2].Offset, recs[2].Line)
	}
}

// endless is an infinite line: the reader must skip it with bounded memory
// and report it TooLong once the limit is passed, here stopping it after
// 8 MiB with a newline.
type longLine struct{ left int }

func (l *longLine) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, io.EOF
	}
	n := min(len(p), l.left)
	for i := range n {
		p[i] = 'y'
	}
	l.left -= n
	if l.left == 0 {
		p[n-1] = '\n'
	}
	return n, nil
}

func TestJSONLReaderTooLongBoundedMemory(t *testing.T) {
	const size = 8 << 20
	r := NewJSONLReader(&longLine{left: size}, Options{MaxRecordBytes: 1000})
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if !rec.TooLong || rec.Length != size-1 || rec.Raw != nil {
		t.Fatalf("TooLong %v Length %d", rec.TooLong, rec.Length)
	}
	if c := cap(r.(*JSONLReader).src.buf); c > 1<<20 {
		t.Errorf("buffer grew to %d bytes for a limit of 1000", c)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestJSONLReaderIOError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := NewJSONLReader(io.MultiReader(strings.NewReader("{}\n{\"partial"), iotest.ErrReader(boom)), Options{})
	rec, err := r.Next()
	if err != nil || string(rec.Raw) != "{}" {
		t.Fatalf("first record: %v %v", rec, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("want the I/O error, got %v", err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("I/O error must be sticky, got %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestJSONLReaderNoProgress(t *testing.T) {
	r := NewJSONLReader(zeroReader{}, Options{})
	if _, err := r.Next(); err != io.ErrNoProgress {
		t.Fatalf("want io.ErrNoProgress, got %v", err)
	}
}

// TestJSONLOffsetsPointIntoInput decodes records from a multi-line input
// and checks that record offset + error offset names the bad byte.
func TestJSONLOffsetsPointIntoInput(t *testing.T) {
	in := "{\"a\":1}\r\n\n{\"b\":\"ok\"}\n{\"c\":\"bad\xFF\"}\n"
	r := NewJSONLReader(strings.NewReader(in), Options{})
	recs := readAll(t, r)
	if len(recs) != 3 {
		t.Fatalf("got %d records", len(recs))
	}
	_, err := DecodeJSON(recs[2].Raw, DecodeOptions{})
	if err == nil || err.Rule != RuleJSONInvalidUTF8 {
		t.Fatalf("want invalid UTF-8, got %v", err)
	}
	if at := recs[2].Offset + err.Offset; in[at] != 0xFF {
		t.Fatalf("input offset %d holds %q, not the bad byte", at, in[at])
	}
	if recs[2].Line != 4 {
		t.Fatalf("line %d, want 4", recs[2].Line)
	}
}

// TestJSONLRecordsOwnTheirBytes: records are cut from shared blocks, yet
// each owns its bytes: appending to one record's Raw does not reach the
// next record's, and a line longer than a block's share is whole.
func TestJSONLRecordsOwnTheirBytes(t *testing.T) {
	long := strings.Repeat("x", 10000)
	r := NewJSONLReader(strings.NewReader("{\"a\":1}\n{\"b\":2}\n\""+long+"\"\n{\"c\":3}\n"), Options{})
	var recs []*Record
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		recs = append(recs, rec)
	}
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	_ = append(recs[0].Raw, "XXXXXXXX"...)
	for i, want := range []string{`{"a":1}`, `{"b":2}`, `"` + long + `"`, `{"c":3}`} {
		if string(recs[i].Raw) != want {
			t.Errorf("record %d holds %.40q, want %.40q", i+1, recs[i].Raw, want)
		}
	}
}
