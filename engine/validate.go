package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/pawl-dev/pawl/engine/jsonptr"
	"github.com/pawl-dev/pawl/engine/sandbox"
)

// runValidators runs vs — all stateless (in a worker) or all ordered (in
// the writer, in record order) — over the chunk's records that reached the
// validate stage, each plugin on one call for the whole chunk, and records
// their verdicts. insts holds the caller's instance of each plugin,
// created on first use and replaced after a trap. Every validator sees every
// record that passed the schema, so a record carries the reasons of all of
// them.
func (s *stages) runValidators(ctx context.Context, vs []*validator, insts []checker, items []item, st *stats) error {
	var idx []int
	for i := range items {
		if items[i].stage == "" || items[i].stage == "validate" {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	before := make([]int, len(idx)) // reasons each record had before this call
	for j, i := range idx {
		before[j] = len(items[i].reasons)
	}
	for k, v := range vs {
		b := batchFor(v, items, idx)
		verdicts, trapped, err := v.call(ctx, &insts[k], b)
		if err != nil {
			return err
		}
		m := v.plugin.Manifest()
		for j, i := range idx {
			it := &items[i]
			if e, ok := trapped[j]; ok {
				it.reasons = append(it.reasons, Reason{Stage: "validate", Rule: m.Name + "/plugin.trap",
					Message: fmt.Sprintf("the plugin trapped on this record and it was set aside: %v", e)})
				continue
			}
			vd := verdicts[j]
			for _, r := range vd.Reasons {
				it.reasons = append(it.reasons, Reason{Stage: "validate", Rule: m.Name + "/" + r.Rule, Pointer: v.pointerOf(r.FieldIndex),
					Message: r.Message + " (" + v.id + ")"})
			}
			if !vd.OK && len(vd.Reasons) == 0 {
				it.reasons = append(it.reasons, Reason{Stage: "validate", Rule: m.Name + "/rejected", Message: "rejected without a reason (" + v.id + ")"})
			}
			for _, rp := range vd.Replacements {
				if rp.FieldIndex < 0 || rp.FieldIndex >= len(m.Fields) {
					return fmt.Errorf("%s replaced field %d of record %d, which it does not declare", v.id, rp.FieldIndex, it.rec.Ordinal)
				}
				if err := setPointer(it.v, v.pointerOf(rp.FieldIndex), replacementValue(rp.Value, m.Fields[rp.FieldIndex].Type)); err != nil {
					return fmt.Errorf("%s replaced %s of record %d: %w", v.id, v.pointerOf(rp.FieldIndex), it.rec.Ordinal, err)
				}
				it.actions = append(it.actions, Action{Stage: "validate", Rule: m.Name + "/replace", Pointer: v.pointerOf(rp.FieldIndex),
					Message: "value replaced by " + v.id})
			}
		}
	}
	for j, i := range idx {
		it := &items[i]
		if len(it.reasons) == before[j] {
			continue
		}
		if it.stage == "" {
			st.rejected["validate"]++
			it.stage = "validate"
		}
		seen := map[string]bool{}
		for _, r := range it.reasons[:before[j]] {
			seen[r.Rule] = true
		}
		for _, r := range it.reasons[before[j]:] {
			if !seen[r.Rule] {
				seen[r.Rule] = true
				st.rules[[2]string{"validate", r.Rule}]++
			}
		}
	}
	return nil
}

// call validates b on the caller's instance. A deterministic trap is
// bisected on fresh instances to find the records that cause it; any other
// failure (a timeout, resource exhaustion, a malformed result) fails the
// batch.
func (v *validator) call(ctx context.Context, inst *checker, b *sandbox.Batch) ([]sandbox.Verdict, map[int]*sandbox.Error, error) {
	if *inst == nil {
		in, err := v.newChecker(ctx)
		if err != nil {
			return nil, nil, err
		}
		*inst = in
	}
	verdicts, err := (*inst).Validate(ctx, b)
	if err == nil {
		return verdicts, nil, nil
	}
	(*inst).Close(ctx)
	*inst = nil // a trapped instance is thrown away
	if !sandbox.IsTrap(err) {
		return nil, nil, err
	}
	if v.ordered {
		return nil, nil, fmt.Errorf("%w: %s is ordered, so the record cannot be set aside without replaying the whole run; fix the plugin or the input", err, v.id)
	}
	res, err := sandbox.Bisect(ctx, v.fresh, nil, b)
	if err != nil {
		return nil, nil, err
	}
	return res.Verdicts, res.Trapped, nil
}

func (v *validator) pointerOf(field int) string {
	if field >= 0 && field < len(v.pointers) {
		return v.pointers[field]
	}
	return ""
}

// batchFor puts the values the plugin reads into columns: the host parsed
// each record once; the guest never sees JSON.
func batchFor(v *validator, items []item, idx []int) *sandbox.Batch {
	fields := v.plugin.Manifest().Fields
	b := sandbox.NewBatch(fields, len(idx))
	b.First = uint64(items[idx[0]].rec.Ordinal - 1)
	for j, i := range idx {
		for f, field := range fields {
			val, ok := jsonptr.Get(items[i].v, jsonptr.Split(v.pointers[f]))
			if !ok {
				continue
			}
			switch field.Type {
			case sandbox.TypeNumber:
				if n, ok := val.(json.Number); ok {
					if x, err := n.Float64(); err == nil {
						b.SetNumber(f, j, x)
					}
				}
			case sandbox.TypeString:
				if s, ok := val.(string); ok {
					b.SetString(f, j, s)
				}
			case sandbox.TypeBool:
				if x, ok := val.(bool); ok {
					b.SetBool(f, j, x)
				}
			}
		}
	}
	return b
}

// setPointer sets (or, for nil, removes) the member ptr names; its parent
// must be an object.
func setPointer(v any, ptr string, val any) error {
	toks := jsonptr.Split(ptr)
	if len(toks) == 0 {
		return fmt.Errorf("cannot replace the whole record")
	}
	parent, ok := jsonptr.Get(v, toks[:len(toks)-1])
	m, isObj := parent.(map[string]any)
	if !ok || !isObj {
		return fmt.Errorf("the parent of %s is not an object", ptr)
	}
	if val == nil {
		delete(m, toks[len(toks)-1])
	} else {
		m[toks[len(toks)-1]] = val
	}
	return nil
}

func replacementValue(x sandbox.Value, t sandbox.FieldType) any {
	switch {
	case x.Absent:
		return nil
	case t == sandbox.TypeString:
		return x.Str
	case t == sandbox.TypeBool:
		return x.Bool
	}
	return json.Number(strconv.FormatFloat(x.Num, 'g', -1, 64))
}
