package records

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// TypeCSV turns a CSV row into a JSON object, typing each cell by the
// schema type declared for its column. types maps a column name to one of
// "string", "number", "integer", "boolean", "null", "object" or "array"; a
// column that is absent from types, or mapped to "", is a string column.
//
//   - string: the cell as is; an empty cell is "".
//   - number: a JSON number, exactly (no surrounding spaces, no '+', no
//     leading zeros), within the float64 range; kept as json.Number.
//   - integer: a JSON number without fraction or exponent.
//   - boolean: exactly true or false.
//   - null: an empty cell or exactly null; the field is present as null.
//   - object, array: the cell holds JSON text of that kind, decoded strictly.
//
// An empty cell in a number, integer, boolean, object or array column is
// left out of the object, so that the schema's "required" reports it, rather
// than being invented as 0, false or "".
//
// Every cell must be valid UTF-8 (csv.invalid_utf8). A cell that does not fit
// its type gives a csv.type Error with the column's JSON pointer and the
// cell's input offset; all such problems of the row are returned, and the
// object holds the cells that did fit. Cells beyond the header, and missing
// cells of a short row, are ignored: the reader reports those rows with
// csv.ragged_row and callers must not accept a row whose Record.Err is set.
func TypeCSV(header []string, cells []string, cellOffsets []int64, types map[string]string) (map[string]any, []*Error) {
	obj := make(map[string]any, len(header))
	var errs []*Error
	for i, name := range header {
		if i >= len(cells) {
			break
		}
		cell := cells[i]
		off := int64(-1)
		if i < len(cellOffsets) {
			off = cellOffsets[i]
		}
		bad := func(rule, msg string) {
			errs = append(errs, &Error{Rule: rule, Offset: off, Pointer: PointerToken(name), Message: msg})
		}
		if !utf8.ValidString(cell) {
			at := 0
			for at < len(cell) {
				r, size := utf8.DecodeRuneInString(cell[at:])
				if r == utf8.RuneError && size <= 1 {
					break
				}
				at += size
			}
			bad(RuleCSVInvalidUTF8, "cell in column "+quoteEvidence(name)+" holds byte 0x"+hex2(cell[at])+", which is not valid UTF-8, at byte "+strconv.Itoa(at)+" of its value: re-save the file as UTF-8")
			continue
		}
		typ := types[name]
		switch typ {
		case "", "string":
			obj[name] = cell
		case "number", "integer":
			if cell == "" {
				continue
			}
			end, rangeCheck, integral, errAt, why := scanNumberKind([]byte(cell), 0)
			switch {
			case errAt >= 0 || end != len(cell):
				msg := "cell " + quoteEvidence(cell) + " in column " + quoteEvidence(name) + " is not a"
				if typ == "integer" {
					msg += "n integer"
				} else {
					msg += " number"
				}
				if errAt >= 0 && why != "" && (cell[0] == '-' || cell[0] >= '0' && cell[0] <= '9') {
					msg += " (" + why + ")"
				} else if len(cell) > 0 && (cell[0] == ' ' || cell[len(cell)-1] == ' ') {
					msg += " (remove the spaces)"
				}
				bad(RuleCSVType, msg)
				continue
			case typ == "integer" && !integral:
				bad(RuleCSVType, "cell "+quoteEvidence(cell)+" in column "+quoteEvidence(name)+" is not an integer (no fraction or exponent allowed)")
				continue
			case rangeCheck && checkRange(cell) != "":
				bad(RuleCSVType, "cell "+quoteEvidence(cell)+" in column "+quoteEvidence(name)+" "+checkRange(cell))
				continue
			}
			obj[name] = json.Number(cell)
		case "boolean":
			switch cell {
			case "":
			case "true":
				obj[name] = true
			case "false":
				obj[name] = false
			default:
				bad(RuleCSVType, "cell "+quoteEvidence(cell)+" in column "+quoteEvidence(name)+" is not a boolean: write exactly true or false")
			}
		case "null":
			if cell == "" || cell == "null" {
				obj[name] = nil
			} else {
				bad(RuleCSVType, "cell "+quoteEvidence(cell)+" in column "+quoteEvidence(name)+" is not null: leave it empty or write null")
			}
		case "object", "array":
			if cell == "" {
				continue
			}
			v, jerr := DecodeJSON([]byte(cell), DecodeOptions{})
			if jerr != nil {
				bad(RuleCSVType, "cell in column "+quoteEvidence(name)+" is not JSON "+typ+" text (offsets count from the cell's first byte): "+jerr.Error())
				continue
			}
			_, isObj := v.(map[string]any)
			_, isArr := v.([]any)
			if typ == "object" && !isObj || typ == "array" && !isArr {
				bad(RuleCSVType, "cell "+quoteEvidence(cell)+" in column "+quoteEvidence(name)+" is a JSON "+kindOf(v)+", not an "+typ)
				continue
			}
			obj[name] = v
		default:
			bad(RuleCSVType, "column "+quoteEvidence(name)+" is declared with type "+quoteEvidence(typ)+", which cannot be read from a CSV cell: use string, number, integer, boolean, null, object or array")
		}
	}
	return obj, errs
}
