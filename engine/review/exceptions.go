package review

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/esign"
)

// Exception is an entry of the trail an inspector should look at first:
// a failed or refused attempt, a denial, a lock-out, a clock anomaly, a
// time given outside the window, a correction of a correction, a
// self-approval, a key rotation, a pin change or an export.
type Exception struct {
	Kind string `json:"kind"` // what sort of exception, as the report heads it
	Seq  int64  `json:"seq"`
	Time string `json:"time"` // the entry's time, UTC, RFC 3339
	Who  string `json:"who"`  // the entry's operator
	What string `json:"what"`
	Why  string `json:"why"` // the entry's reason, or the failure it records
}

// exceptionKind is one sort of exception: the action whose entries may be
// one, and describe, which says what the entry is and why, or ok false
// when this entry is not an exception (an allowed decision).
type exceptionKind struct {
	action   string
	kind     string
	describe func(e audit.Entry, t *trailIndex) (what, why string, ok bool)
}

// trailIndex is what a description needs from other entries: who ran
// each batch (its batch.committed entry's operator) and who proposed each
// change.
type trailIndex struct {
	ranBy      map[string]string // batch id → operator
	proposedBy map[string]string // change id → operator
	// bundles notes the first decision under a policy bundle whose
	// signature was not verified, and the first under a key other than
	// the one before: seq → what.
	bundles map[int64]string
}

// exceptionKinds lists every sort of exception, in the order the report
// lists them. An action not here is never an exception.
var exceptionKinds = []exceptionKind{
	{actions.ESignFailed, "Failed e-signature", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.ESignFailedDetails](e)
		if err != nil {
			return "", "", false
		}
		return fmt.Sprintf("e-signature of %s as %q (meaning %q) failed: %s", d.Batch, d.Operator, d.Meaning, d.Failure), d.Error, true
	}},
	{actions.OperatorPassphraseChangeFailed, "Failed passphrase change", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.OperatorPassphraseChangeFailedDetails](e)
		if err != nil {
			return "", "", false
		}
		return fmt.Sprintf("passphrase change of operator %s failed: %s", d.ID, d.Failure), d.Error, true
	}},
	{actions.OperatorLocked, "Lock-out", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.OperatorLockedDetails](e)
		if err != nil {
			return "", "", false
		}
		return fmt.Sprintf("operator %s locked out after %d wrong passphrases in a row (entries %s; threshold %d)", d.ID, d.FailedAttempts, seqList(d.Attempts), d.LockoutAfter), "", true
	}},
	{actions.PolicyDecision, "Policy denial", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.PolicyDecisionDetails](e)
		if err != nil || d.Allow {
			return "", "", false
		}
		why := strings.Join(d.Deny, "; ")
		if d.Error != "" {
			why = strings.TrimPrefix(why+"; evaluation failed: "+d.Error, "; ")
		}
		return fmt.Sprintf("%s decision about %s denied (bundle %s)", d.Kind, e.Object, d.Bundle.SHA256), why, true
	}},
	{actions.PolicyDecision, "Unsigned or re-keyed policy bundle", func(e audit.Entry, t *trailIndex) (string, string, bool) {
		what, ok := t.bundles[e.Seq]
		return what, "", ok
	}},
	{actions.PluginRefused, "Refused plugin", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.PluginRefusedDetails](e)
		if err != nil {
			return "", "", false
		}
		return fmt.Sprintf("plugin %s (pinned %s) refused for job %s", d.Plugin, d.Pinned, d.Job), d.Error, true
	}},
	{actions.PluginAddRefused, "Refused plugin", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.PluginAddRefusedDetails](e)
		if err != nil {
			return "", "", false
		}
		name := d.Plugin
		if name == "" {
			name = string(d.Hash)
		}
		return fmt.Sprintf("plugin %s not added (module %s)", name, d.Hash), d.Error, true
	}},
	{actions.ChangeApplyRefused, "Refused change", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.ChangeApplyRefusedDetails](e)
		if err != nil {
			return "", "", false
		}
		return fmt.Sprintf("change %s not applied: %s", d.ID, d.Failure), d.Error, true
	}},
	{actions.ResubmitRefused, "Refused correction", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.ResubmitRefusedDetails](e)
		if err != nil {
			return "", "", false
		}
		return fmt.Sprintf("correction of record %d of batch %s refused: %s", d.OriginalOrdinal, d.OriginalBatch, d.Failure), d.Error, true
	}},
	{actions.TrailClockAnomaly, "Clock anomaly", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		var m map[string]any
		if json.Unmarshal(e.Details, &m) != nil {
			return "", "", false
		}
		what := fmt.Sprintf("%v about %v refused: the clock read %v, before entry %v at %v", m["refused_action"], m["refused_object"], m["clock"], m["head_seq"], m["head_time"])
		if g, ok := m["given"]; ok && g != "" {
			what = fmt.Sprintf("%v about %v refused: the time given, %v, is before entry %v at %v", m["refused_action"], m["refused_object"], g, m["head_seq"], m["head_time"])
		}
		return what, "", true
	}},
	{actions.BatchCommitted, "Time outside the window", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.BatchRecord](e)
		if err != nil || !d.AsOfOutsideWindow {
			return "", "", false
		}
		return fmt.Sprintf("batch %s ran as of %s, outside the window that needs no reason (%s)", d.BatchID, d.AsOf, window(d.AsOfWindow)), "", true
	}},
	{actions.RecordResubmitted, "Correction of a correction", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.RecordResubmittedDetails](e)
		if err != nil || d.Previous == nil && d.Root == nil {
			return "", "", false
		}
		what := fmt.Sprintf("record %d of batch %s corrected again as batch %s (%s)", d.OriginalOrdinal, d.OriginalBatch, d.NewBatch, d.Status)
		if d.Previous != nil {
			what += fmt.Sprintf("; the correction before it: batch %s, entry %d", d.Previous.Batch, d.Previous.Entry)
		}
		if d.Root != nil {
			what += fmt.Sprintf("; the original record: %d of batch %s", d.Root.OriginalOrdinal, d.Root.OriginalBatch)
		}
		return what, "", true
	}},
	{actions.ESignSigned, "Self-approval", func(e audit.Entry, t *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.ESignSignedDetails](e)
		if err != nil {
			return "", "", false
		}
		m := d.Manifest
		switch {
		case m.ChangeID != "" && t.proposedBy[m.ChangeID] == m.SignerID:
			return fmt.Sprintf("%s (%s) signed %q the change %s they proposed", m.SignerName, m.SignerID, m.Meaning, m.ChangeID), "", true
		case m.BatchID != "" && (m.Meaning == string(esign.MeaningApproved) || m.Meaning == string(esign.MeaningReviewed)) && t.ranBy[m.BatchID] == m.SignerID:
			return fmt.Sprintf("%s (%s) signed %q the batch %s they ran", m.SignerName, m.SignerID, m.Meaning, m.BatchID), "", true
		}
		return "", "", false
	}},
	{actions.EngineKeyRotated, "Engine key rotation", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.KeyRotatedDetails](e)
		if err != nil {
			return "", "", false
		}
		return fmt.Sprintf("engine key %s replaced by %s (kept %s)", keyID(d.OldKey), keyID(d.NewKey), d.AtRest), "", true
	}},
	{actions.PinChanged, "Configuration or pin change", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.PinChangedDetails](e)
		if err != nil {
			return "", "", false
		}
		var parts []string
		for _, c := range d.Contract {
			if c.Verdict != "tightening" {
				parts = append(parts, fmt.Sprintf("CONTRACT WEAKENING of job %s (%s, %d changes)", c.Job, c.Verdict, len(c.Changes)))
			}
		}
		for _, c := range d.Changes {
			switch {
			case c.Old == "":
				parts = append(parts, c.File+" pinned")
			case c.New == "":
				parts = append(parts, c.File+" unpinned")
			default:
				parts = append(parts, c.File+" changed")
			}
		}
		if p := d.Policy; p != nil {
			if !p.RequireSignature {
				parts = append(parts, "policy bundle: signature NOT required")
			} else {
				parts = append(parts, "policy bundle: signature required, key "+p.PublicKeyFingerprint)
			}
		}
		if d.Edited != nil {
			parts = append(parts, "pawl.lock found edited by hand and accepted")
		}
		if d.TwoPersonWaived {
			parts = append(parts, "without a second person (change.two_person pinned false)")
		}
		if d.Change != nil {
			parts = append(parts, "approved change "+d.Change.ID)
		}
		return strings.Join(parts, "; "), "", true
	}},
	{actions.BatchExported, "Export", func(e audit.Entry, _ *trailIndex) (string, string, bool) {
		d, err := actions.Decode[actions.BatchExportedDetails](e)
		if err != nil {
			return "", "", false
		}
		what := fmt.Sprintf("batch %s exported to %s (%d files) for %q", d.BatchID, d.Destination, len(d.Files), d.Purpose)
		if d.TimeOutsideWindow {
			what += fmt.Sprintf("; its decision's time was given outside the window (%s)", window(d.TimeWindow))
		}
		return what, "", true
	}},
}

// Exceptions lists the entries of a trail an inspector should look at
// first, grouped by kind in the order of exceptionKinds and by seq within
// a kind; nil when there are none. An entry whose details cannot be read
// is not listed here: `pawl audit verify` names it.
func Exceptions(entries []audit.Entry) []Exception {
	t := &trailIndex{ranBy: map[string]string{}, proposedBy: map[string]string{}, bundles: map[int64]string{}}
	unverified, key := map[string]bool{}, ""
	for _, e := range entries {
		switch e.Action {
		case actions.PolicyDecision:
			d, err := actions.Decode[actions.PolicyDecisionDetails](e)
			if err != nil {
				continue
			}
			b := d.Bundle
			switch {
			case !b.SignatureVerified && !unverified[b.SHA256]:
				unverified[b.SHA256] = true
				t.bundles[e.Seq] = fmt.Sprintf("decisions from here on were made under policy bundle %s (revision %q) whose signature was not verified (signed: %v)", b.SHA256, b.Revision, b.Signed)
			case b.SignatureVerified && key != "" && b.KeyFingerprint != key:
				t.bundles[e.Seq] = fmt.Sprintf("policy bundle %s verified with key %s; the decisions before, with key %s", b.SHA256, b.KeyFingerprint, key)
			}
			if b.SignatureVerified {
				key = b.KeyFingerprint
			}
		case actions.BatchCommitted:
			t.ranBy[strings.TrimPrefix(e.Object, "batch:")] = e.Operator
		case actions.ChangeProposed:
			t.proposedBy[strings.TrimPrefix(e.Object, "change:")] = e.Operator
		}
	}
	var out []Exception
	for _, k := range exceptionKinds {
		for _, e := range entries {
			if e.Action != k.action {
				continue
			}
			what, why, ok := k.describe(e, t)
			if !ok {
				continue
			}
			if why == "" {
				why = e.Reason
			} else if e.Reason != "" {
				why = e.Reason + " — " + why
			}
			out = append(out, Exception{Kind: k.kind, Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339), Who: e.Operator, What: what, Why: why})
		}
	}
	return out
}

// selfApprovals says whether any exception is a self-approval.
func selfApprovals(xs []Exception) bool {
	for _, x := range xs {
		if x.Kind == "Self-approval" {
			return true
		}
	}
	return false
}

func seqList(s []int64) string {
	var b []string
	for _, n := range s {
		b = append(b, fmt.Sprint(n))
	}
	return strings.Join(b, ", ")
}

func window(w *actions.TimeWindow) string {
	if w == nil {
		return "window not recorded"
	}
	return w.Past + " back, " + w.Future + " ahead"
}

// keyID is the last field of "ed25519 BASE64 KEYID".
func keyID(k string) string {
	f := strings.Fields(k)
	if len(f) == 0 {
		return "(none)"
	}
	return f[len(f)-1]
}
