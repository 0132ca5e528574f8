package schema

// The flat check: the compiled path run on a record that is one object of
// scalar members, held as their text (Member) instead of a decoded
// map[string]any. It lets the pipeline check the common record straight
// from its bytes (engine/records.ScanFlat) without building the map.

// Kind is the JSON type of a flat member's value.
type Kind uint8

// The kinds of a flat member's value.
const (
	KindNull Kind = iota + 1
	KindBool
	KindNumber
	KindString
)

var kindType = [...]uint8{KindNull: tNull, KindBool: tBoolean, KindNumber: tNumber, KindString: tString}

// Member is one member of a flat object: its key and its scalar value as
// text — a string's value (without quotes; the caller has unescaped it), a
// number's JSON text, or "true", "false", "null".
type Member struct {
	Key  string
	Text string
	Kind Kind
}

// ValidFlat reports whether the object whose members are ms conforms to
// the schema, as Validate would decide for the map with those members and
// values (string, json.Number, bool, nil). ms must be sorted by key, in
// byte order, without duplicates.
//
// It answers true only when it knows: false means "not known valid", when
// the record is invalid and also when the root schema has a keyword the
// flat check does not implement (anything that is not type, properties,
// required, additionalProperties or min/maxProperties at the root) or when
// the whole schema goes to the library. The caller then takes the record
// through Validate, which decides and gives the reasons.
func (s *Schema) ValidFlat(ms []Member) bool {
	n := s.fast
	if n == nil || !n.flatRoot {
		return false
	}
	for i := range ms {
		if ms[i].Kind == KindNumber && numberProblem(ms[i].Text) != "" {
			return false
		}
	}
	if n.hasTyp && n.types&tObject == 0 ||
		n.minProps >= 0 && len(ms) < n.minProps || n.maxProps >= 0 && len(ms) > n.maxProps {
		return false
	}
	// ms and propList are both sorted by name: walk them side by side.
	j := 0
	for i := range ms {
		m := &ms[i]
		for j < len(n.propList) && n.propList[j].name < m.Key {
			if n.propList[j].required {
				return false
			}
			j++
		}
		t := kindType[m.Kind]
		if j < len(n.propList) && n.propList[j].name == m.Key {
			if !n.propList[j].n.scalar(t, m.Text) {
				return false
			}
			j++
			continue
		}
		if n.addlFalse || n.addl != nil && !n.addl.scalar(t, m.Text) {
			return false
		}
	}
	for ; j < len(n.propList); j++ {
		if n.propList[j].required {
			return false
		}
	}
	for _, r := range n.otherRequired {
		if !hasKey(ms, r) {
			return false
		}
	}
	return true
}

func hasKey(ms []Member, k string) bool {
	for i := range ms {
		if ms[i].Key == k {
			return true
		}
	}
	return false
}

// flatRootOK reports whether ValidFlat can decide n as the root: n checks
// nothing on an object but its type, its properties (any schemas, checked
// through scalar), required, additionalProperties and the member counts.
func flatRootOK(n *node) bool {
	return n.bool == nil && !n.fallback && n.constV == nil && n.enum == nil && n.format == nil &&
		n.ref == nil && n.not == nil && n.allOf == nil && n.anyOf == nil && n.oneOf == nil && n.ifN == nil &&
		n.patProps == nil && n.propNames == nil && n.depRequired == nil && n.depSchemas == nil
}
