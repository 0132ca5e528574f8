package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/audit/canonjson"
)

// Details is the typed details of one action.
type Details interface {
	Action() string
}

// Record is an entry to put on record: who, about what, why, and the typed
// details that say what happened.
type Record struct {
	Operator string
	Object   string
	Reason   string
	Time     time.Time // zero: now (the trail's clock)
	Details  Details
}

// Append puts r on the trail, its details in canonical JSON.
func Append(ctx context.Context, t *audit.Trail, r Record) (audit.Entry, error) {
	b, err := canonjson.Marshal(r.Details)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("encoding the details of %s: %w", r.Details.Action(), err)
	}
	return t.Append(ctx, audit.Entry{Time: r.Time, Operator: r.Operator, Action: r.Details.Action(),
		Object: r.Object, Reason: r.Reason, Details: b})
}

// AppendAll puts rs on the trail in order, in one transaction
// (audit.Trail.AppendAll): each its own hash-chained entry, one commit and
// one fsync for them all, and a crash leaves all of them on record or none.
func AppendAll(ctx context.Context, t *audit.Trail, rs []Record) ([]audit.Entry, error) {
	es := make([]audit.Entry, len(rs))
	for i, r := range rs {
		b, err := canonjson.Marshal(r.Details)
		if err != nil {
			return nil, fmt.Errorf("encoding the details of %s: %w", r.Details.Action(), err)
		}
		es[i] = audit.Entry{Time: r.Time, Operator: r.Operator, Action: r.Details.Action(), Object: r.Object, Reason: r.Reason, Details: b}
	}
	return t.AppendAll(ctx, es)
}

// Decode reads an entry's details as the type its action names. It refuses
// an entry of another action and details with keys the type does not know.
func Decode[T Details](e audit.Entry) (T, error) {
	var v T
	if e.Action != v.Action() {
		return v, fmt.Errorf("audit entry %d is %s, not %s", e.Seq, e.Action, v.Action())
	}
	dec := json.NewDecoder(bytes.NewReader(e.Details))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("audit entry %d (%s): details unreadable: %v: run `pawl audit verify`", e.Seq, e.Action, err)
	}
	return v, nil
}

// Keys lists the top-level JSON keys a details type writes, sorted
// (embedded structs contribute their own keys): what docs/audit-format.md
// lists for the action.
func Keys(d Details) []string {
	if d == nil {
		return nil
	}
	var keys []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			keys = append(keys, name)
		}
	}
	walk(reflect.TypeOf(d))
	sort.Strings(keys)
	return keys
}
