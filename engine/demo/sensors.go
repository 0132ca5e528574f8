package demo

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// GenOptions shape a generated SensorReading input.
type GenOptions struct {
	Records int
	Seed    uint64
	AsOf    time.Time // timestamps fall in the 24 hours before it
	// FailureRate is the share of records given one realistic defect.
	FailureRate float64
	// Unicode adds the invisible and bidi-control defects to the mix.
	Unicode bool
}

// Defects the generator mixes in, each named for what it imitates.
var genDefects = []string{
	"value-not-a-number",  // "value":"hot"
	"extra-field",         // a field the contract does not know
	"malformed-device-id", // "ab-12345"
	"missing-timestamp",
	"unknown-unit",
	"timestamp-without-zone",
	"truncated-json",
	"negative-kelvin", // passes the schema's -273.15, fails the range plugin's per-unit bound
	"stale-timestamp", // two days old: fails the freshness plugin
	"spike",           // far outside the device's usual readings: fails the zscore plugin
}

var genUnicodeDefects = []string{
	"zero-width-in-id",  // U+200B inside the device id
	"bidi-override",     // U+202E reversing how the id displays
	"invalid-utf8",      // a byte that is not UTF-8
	"nul-in-unit",       // U+0000 inside a string
	"decomposed-accent", // passes: normalized to NFC (the note is not in the seed schema, so it lands in quarantine as an extra field)
}

// genPrefixes and genDevices are the device ids the generator draws from.
var genPrefixes = []string{"AB", "CD", "EF", "GH"}

const genDevices = 25

// DeviceRegistry is the example project's device registry: every id the
// generator draws except the last of GH (a decommissioned device that still
// sends readings), plus the ids the documentation uses.
func DeviceRegistry() []byte {
	var b []byte
	b = append(b, "# Device registry of plant 7: one device id per line.\n"...)
	for _, p := range genPrefixes {
		for i := 0; i < genDevices; i++ {
			if p == "GH" && i == genDevices-1 {
				continue
			}
			b = fmt.Appendf(b, "%s-%06d\n", p, 100000+i)
		}
	}
	return append(b, "AB-123456\nCD-654321\n"...)
}

// GenerateSensorReadings writes a deterministic JSONL stream of
// SensorReadings to w: the same options always give the same bytes.
func GenerateSensorReadings(w io.Writer, o GenOptions) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	defects := genDefects
	if o.Unicode {
		defects = append(append([]string{}, genDefects...), genUnicodeDefects...)
	}
	units := []string{"celsius", "fahrenheit", "kelvin"}
	var buf []byte
	for i := 0; i < o.Records; i++ {
		dev := fmt.Sprintf("%s-%06d", genPrefixes[rng.IntN(len(genPrefixes))], 100000+rng.IntN(genDevices))
		ts := o.AsOf.Add(-time.Duration(rng.Int64N(int64(24 * time.Hour)))).UTC().Truncate(time.Second)
		unit := units[rng.IntN(3)]
		var value float64
		switch unit {
		case "celsius":
			value = 15 + rng.NormFloat64()*5
		case "fahrenheit":
			value = 59 + rng.NormFloat64()*9
		default:
			value = 288.15 + rng.NormFloat64()*5
		}
		valueText := strconv.FormatFloat(value, 'f', 2, 64)
		defect := ""
		if rng.Float64() < o.FailureRate {
			defect = defects[rng.IntN(len(defects))]
		}
		tsText := ts.Format(time.RFC3339)
		buf = buf[:0]
		switch defect {
		case "value-not-a-number":
			valueText = `"hot"`
		case "malformed-device-id":
			dev = "ab-" + strconv.Itoa(10000+rng.IntN(90000))
		case "unknown-unit":
			unit = "rankine"
		case "timestamp-without-zone":
			tsText = ts.Format("2006-01-02T15:04:05")
		case "negative-kelvin":
			unit, valueText = "kelvin", "-12.50"
		case "stale-timestamp":
			tsText = ts.Add(-48 * time.Hour).Format(time.RFC3339)
		case "spike":
			valueText = strconv.FormatFloat(value+5000, 'f', 2, 64)
		case "zero-width-in-id":
			dev = dev[:4] + "\u200b" + dev[4:]
		case "bidi-override":
			dev = "\u202e" + dev
		case "nul-in-unit":
			unit = unit + `\u0000`
		}
		buf = append(buf, `{"device_id":"`...)
		buf = append(buf, dev...)
		buf = append(buf, '"')
		if defect != "missing-timestamp" {
			buf = append(buf, `,"timestamp":"`...)
			buf = append(buf, tsText...)
			buf = append(buf, '"')
		}
		buf = append(buf, `,"value":`...)
		buf = append(buf, valueText...)
		buf = append(buf, `,"unit":"`...)
		buf = append(buf, unit...)
		buf = append(buf, '"')
		switch defect {
		case "extra-field":
			buf = append(buf, `,"colour":"red"`...)
		case "decomposed-accent":
			buf = append(buf, `,"note":"cafe`+"\u0301"+`"`...)
		case "invalid-utf8":
			buf = append(buf, `,"note":"caf`+"\xe9"+`"`...)
		}
		buf = append(buf, '}')
		if defect == "truncated-json" {
			buf = buf[:len(buf)/2]
		}
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}
