package finding

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// quarantineFile is a quarantine of the given ordinals (ascending), each
// line of a length drawn from rng (some longer than SeekQuarantine's
// chunk), and each line's offset.
func quarantineFile(rng *rand.Rand, ords []int64) ([]byte, []int64) {
	var b []byte
	var at []int64
	for _, o := range ords {
		at = append(at, int64(len(b)))
		q := &QuarantineEntry{Ordinal: o, Line: o, Offset: o * 90, Length: 89, Raw: strings.Repeat("x", rng.IntN(3*seekChunk)),
			Reasons: []Finding{{Stage: "schema", Rule: "type", Pointer: "/value", Message: "not a number"}}}
		b = AppendQuarantineLine(b, q)
	}
	return b, at
}

// seekLinear is what SeekQuarantine must answer, by reading every line.
func seekLinear(b []byte, ords, at []int64, ordinal int64) ([]byte, int64) {
	for i, o := range ords {
		if o >= ordinal {
			if o == ordinal {
				end := int64(len(b))
				if i+1 < len(at) {
					end = at[i+1]
				}
				return b[at[i]:end], at[i]
			}
			return nil, at[i]
		}
	}
	return nil, int64(len(b))
}

// TestSeekQuarantineAgreesWithAScan: for files of 0 to 40 entries with
// gaps between their ordinals and lines shorter and longer than a read,
// every ordinal from before the first to after the last is found, or not,
// exactly as reading every line finds it, with the same offset.
func TestSeekQuarantineAgreesWithAScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for n := 0; n <= 40; n++ {
		var ords []int64
		o := int64(0)
		for range n {
			o += 1 + int64(rng.IntN(3))
			ords = append(ords, o)
		}
		b, at := quarantineFile(rng, ords)
		for want := int64(0); want <= o+2; want++ {
			line, off, err := SeekQuarantine(bytes.NewReader(b), int64(len(b)), "q", want)
			wline, woff := seekLinear(b, ords, at, want)
			if err != nil || !bytes.Equal(line, wline) || off != woff {
				t.Fatalf("%d entries, ordinal %d: line %.40q at %d (%v); a scan finds %.40q at %d", n, want, line, off, err, wline, woff)
			}
		}
	}
}

// TestSeekQuarantineNamesADamagedLine: a line that is not an entry, met
// on the way, is an error naming the file and the line's offset.
func TestSeekQuarantineNamesADamagedLine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b, at := quarantineFile(rng, []int64{1, 2, 3, 4, 5})
	damaged := append(append(bytes.Clone(b[:at[2]]), "not json\n"...), b[at[3]:]...)
	_, _, err := SeekQuarantine(bytes.NewReader(damaged), int64(len(damaged)), "quarantine of batch x", 3)
	if err == nil || !strings.Contains(err.Error(), "quarantine of batch x: the line at byte "+itoa(at[2])+" is damaged") {
		t.Fatalf("a damaged line: %v", err)
	}
}

// TestSeekQuarantineEntryNamesALineThatIsNoEntry: the record's own line,
// with an ordinal but no entry's shape, is an error naming its offset; the
// entries around it are found.
func TestSeekQuarantineEntryNamesALineThatIsNoEntry(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 3))
	b, at := quarantineFile(rng, []int64{1, 2, 3})
	odd := append(append(bytes.Clone(b[:at[1]]), `{"ordinal":2,"reasons":5}`+"\n"...), b[at[2]:]...)
	if q, line, _, err := SeekQuarantineEntry(bytes.NewReader(odd), int64(len(odd)), "q", 3); err != nil || q == nil || q.Ordinal != 3 || !bytes.HasPrefix(line, []byte(`{"ordinal":3,`)) {
		t.Fatalf("entry 3: %+v %v", q, err)
	}
	q, line, _, err := SeekQuarantineEntry(bytes.NewReader(odd), int64(len(odd)), "q", 2)
	if err == nil || q != nil || line != nil || !strings.Contains(err.Error(), "q: the line at byte "+itoa(at[1])+" is damaged") {
		t.Fatalf("entry 2, not an entry: %+v %q %v", q, line, err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// FuzzSeekQuarantine: on any bytes, SeekQuarantine returns (it neither
// panics nor loops), and a line it returns is the file's bytes at the
// offset it gives, ends the file or in LF, and is the entry asked for.
func FuzzSeekQuarantine(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	b, _ := quarantineFile(rng, []int64{2, 3, 7})
	f.Add(b, int64(3))
	f.Add([]byte("{\"ordinal\":1}\n{\"ordinal\":1}\n{\"ordinal\":0}\n"), int64(1))
	f.Add([]byte("\n\n\n"), int64(1))
	f.Add([]byte(`{"ordinal":5}`), int64(5))
	f.Fuzz(func(t *testing.T, b []byte, ordinal int64) {
		line, at, err := SeekQuarantine(bytes.NewReader(b), int64(len(b)), "q", ordinal)
		if err != nil {
			if line != nil {
				t.Fatalf("an error (%v) with a line", err)
			}
			return
		}
		if at < 0 || at > int64(len(b)) {
			t.Fatalf("offset %d outside the file of %d bytes", at, len(b))
		}
		if line == nil {
			return
		}
		if !bytes.HasPrefix(b[at:], line) || (!bytes.HasSuffix(line, []byte("\n")) && at+int64(len(line)) != int64(len(b))) {
			t.Fatalf("line %q is not a line of the file at %d", line, at)
		}
		var head struct {
			Ordinal int64 `json:"ordinal"`
		}
		if err := json.Unmarshal(line, &head); err != nil || head.Ordinal != ordinal {
			t.Fatalf("line %q is not entry %d (%v)", line, ordinal, err)
		}
	})
}
