package project

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/audit"

	"github.com/pawl-dev/pawl/engine/durable"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/store"
)

// The two-person rule (21 CFR 11.10(g), 11.10(k)): a change of what
// decides and bounds every batch — the policy bundle (an edited policy, a
// plugin approval in policies/data.json), pawl.yaml's trust settings, its
// limits and the change-control setting itself — takes effect only after a
// second person's e-signature. `pawl pin` is where pins take effect, so it
// is where the rule holds: when the pins it would write change a guarded
// pin, it writes every other pin and holds the guarded ones back as a
// change.proposed entry. The signature and the check of who signed are
// esign's (engine/esign/change.go); this file records proposals and puts an
// approved one in force (PinOptions.Apply).

// ChangePinKey pins pawl.yaml's change-control settings
// (actions.ChangeSettings).
const ChangePinKey = config.ChangePin // "pawl.yaml#change"

// ESignPinKey pins pawl.yaml's e-signature settings
// (actions.ESignSettings: esign.session_timeout).
const ESignPinKey = config.ESignPin // "pawl.yaml#esign"

// GuardedPins are the pins the two-person rule holds.
var GuardedPins = []string{PolicyPinKey, PolicySettingsPinKey, LimitsPinKey, ChangePinKey, ESignPinKey}

// IsGuarded says whether a pin is held by the two-person rule.
func IsGuarded(key string) bool {
	for _, g := range GuardedPins {
		if g == key {
			return true
		}
	}
	return false
}

// ChangeSettings are the change-control settings as configured.
func (p *Project) ChangeSettings() actions.ChangeSettings {
	s := actions.ChangeSettings{TwoPerson: p.Cfg.ChangeTwoPerson}
	if n := p.Cfg.ChangeContractEvidence; n != config.Defaults().ChangeContractEvidence {
		s.ContractEvidence = &n
	}
	return s
}

// ContractEvidenceInForce is change.contract_evidence as pinned in pins
// (its default when they do not name it).
func (p *Project) ContractEvidenceInForce(pins lockfile.Pins) (int, error) {
	n := config.Defaults().ChangeContractEvidence
	d, ok := pins[ChangePinKey]
	if !ok {
		return n, nil
	}
	b, err := p.ReadBlob(d)
	if err != nil {
		return n, fmt.Errorf("the change-control settings pinned as %s: %w", d, err)
	}
	var s actions.ChangeSettings
	if err := json.Unmarshal(b, &s); err != nil {
		return n, fmt.Errorf("the change-control settings pinned as %s: %w", d, err)
	}
	if s.ContractEvidence != nil {
		n = *s.ContractEvidence
	}
	return n, nil
}

// ESignSettings are the e-signature settings as configured (pawl.yaml).
func (p *Project) ESignSettings() actions.ESignSettings {
	lock, score, age := p.Cfg.ESignLockoutAfter, p.Cfg.ESignPassphraseMinScore, p.Cfg.ESignPassphraseMaxAgeDays
	return actions.ESignSettings{SessionTimeoutMS: p.Cfg.ESignSessionTimeout.Milliseconds(),
		LockoutAfter: &lock, PassphraseMinScore: &score, PassphraseMaxAgeDays: &age}
}

// ESignRules are the e-signature rules in force, resolved: the pinned
// values, and for a rule the pins on record predate, its default.
type ESignRules struct {
	SessionTimeout       time.Duration
	LockoutAfter         int
	PassphraseMinScore   int
	PassphraseMaxAgeDays int
}

// Rules resolves settings as pinned: a rule they do not name (pinned
// before it was) is its default.
func Rules(s actions.ESignSettings) ESignRules {
	def := config.Defaults()
	r := ESignRules{SessionTimeout: time.Duration(s.SessionTimeoutMS) * time.Millisecond,
		LockoutAfter: def.ESignLockoutAfter, PassphraseMinScore: def.ESignPassphraseMinScore, PassphraseMaxAgeDays: def.ESignPassphraseMaxAgeDays}
	if s.LockoutAfter != nil {
		r.LockoutAfter = *s.LockoutAfter
	}
	if s.PassphraseMinScore != nil {
		r.PassphraseMinScore = *s.PassphraseMinScore
	}
	if s.PassphraseMaxAgeDays != nil {
		r.PassphraseMaxAgeDays = *s.PassphraseMaxAgeDays
	}
	return r
}

// ESignRulesInForce are Rules(ESignSettingsInForce): what a signing, a
// passphrase and a lock-out are held to, whatever pawl.yaml says now.
func (p *Project) ESignRulesInForce(ctx context.Context) (ESignRules, error) {
	s, err := p.ESignSettingsInForce(ctx)
	return Rules(s), err
}

// DescribeESign writes e-signature settings for a person.
func DescribeESign(s actions.ESignSettings) string {
	r := Rules(s)
	out := "esign.session_timeout " + config.FormatDuration(r.SessionTimeout)
	if r.SessionTimeout <= 0 {
		out = "esign.session_timeout 0 (no signing sessions)"
	}
	return out + fmt.Sprintf(", lockout_after %d, passphrase_min_score %d, passphrase_max_age_days %d", r.LockoutAfter, r.PassphraseMinScore, r.PassphraseMaxAgeDays)
}

// ESignSettingsInForce are the e-signature settings the pins on record
// name — the pins of the newest entry that wrote pawl.lock — whatever
// pawl.yaml says now: a change of them is in force only once pinned (under
// the two-person rule, approved). Pins without them (a project pinned
// before they existed, or none yet) give the zero settings: no signing
// sessions.
func (p *Project) ESignSettingsInForce(ctx context.Context) (actions.ESignSettings, error) {
	var s actions.ESignSettings
	hist, err := p.pinHistory(ctx)
	if err != nil || len(hist) == 0 {
		return s, err
	}
	last := hist[len(hist)-1]
	pins, ok := p.recordedPins(last.digest)
	if !ok {
		return s, fmt.Errorf("the pins on record (audit entry %d, %s) are not in the store: restore the data directory from backup", last.seq, last.digest)
	}
	d, ok := pins[ESignPinKey]
	if !ok {
		return s, nil
	}
	b, err := p.ReadBlob(d)
	if err != nil {
		return s, fmt.Errorf("the e-signature settings pinned as %s: %w", d, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("the e-signature settings pinned as %s: %w", d, err)
	}
	return s, nil
}

// pick are the values of keys in pins ("" when absent).
func pick(pins lockfile.Pins, keys []string) map[string]store.Digest {
	out := map[string]store.Digest{}
	for _, k := range keys {
		out[k] = pins[k]
	}
	return out
}

// twoPersonInForce reads change.two_person as pinned in pins: the value in
// force is the one on record, never the file's. A project whose pins have
// no change-control pin (made before it existed) holds the rule.
func (p *Project) twoPersonInForce(pins lockfile.Pins) (bool, error) {
	d, ok := pins[ChangePinKey]
	if !ok {
		return true, nil
	}
	b, err := p.ReadBlob(d)
	if err != nil {
		return true, fmt.Errorf("the change-control settings pinned as %s: %w", d, err)
	}
	var s actions.ChangeSettings
	if err := json.Unmarshal(b, &s); err != nil {
		return true, fmt.Errorf("the change-control settings pinned as %s: %w", d, err)
	}
	return s.TwoPerson, nil
}

// Proposal is a change.proposed entry as read back.
type Proposal struct {
	actions.ChangeProposedDetails
	Seq      int64           `json:"seq"`      // the change.proposed entry
	Hash     string          `json:"entry"`    // its hash
	Proposer string          `json:"proposer"` // the entry's operator
	Reason   string          `json:"reason"`
	Time     audit.EntryTime `json:"time"` // the entry's time, UTC
	// Existing says Pin found this proposal already on record (the same
	// change from the same pins) and recorded nothing new.
	Existing bool `json:"-"`
}

// Proposals lists every change.proposed entry, oldest first.
func (p *Project) Proposals(ctx context.Context) ([]*Proposal, error) {
	es, err := p.Trail.Find(ctx, actions.ChangeProposed, "")
	if err != nil {
		return nil, err
	}
	out := make([]*Proposal, 0, len(es))
	for _, e := range es {
		d, err := actions.Decode[actions.ChangeProposedDetails](e)
		if err != nil {
			return nil, err
		}
		out = append(out, &Proposal{ChangeProposedDetails: d, Seq: e.Seq, Hash: e.Hash, Proposer: e.Operator, Reason: e.Reason,
			Time: audit.EntryTime{Time: e.Time.UTC()}})
	}
	return out, nil
}

// Proposal finds a change by its id or a unique prefix of it.
func (p *Project) Proposal(ctx context.Context, id string) (*Proposal, error) {
	all, err := p.Proposals(ctx)
	if err != nil {
		return nil, err
	}
	var found []*Proposal
	for _, pr := range all {
		if pr.ID == id {
			return pr, nil
		}
		if id != "" && strings.HasPrefix(pr.ID, id) {
			found = append(found, pr)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no change %q on record: `pawl change list` shows them", id)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("change %q is ambiguous (%d changes start with it): give more of the id", id, len(found))
}

// AppliedBy returns the pin.changed entry that put change id in force, or
// 0.
func (p *Project) AppliedBy(ctx context.Context, id string) (int64, error) {
	es, err := p.Trail.Find(ctx, actions.PinChanged, "")
	if err != nil {
		return 0, err
	}
	for _, e := range es {
		d, err := actions.Decode[actions.PinChangedDetails](e)
		if err != nil {
			return 0, err
		}
		if d.Change != nil && d.Change.ID == id {
			return e.Seq, nil
		}
	}
	return 0, nil
}

// changeID names a proposal: its content and how many proposals came
// before it, so the same change proposed again after another is a new id.
func changeID(d *actions.ChangeProposedDetails, n int) string {
	b, _ := canonjson.Marshal(struct {
		Base    store.Digest        `json:"base"`
		Changes []actions.PinChange `json:"changes"`
		N       int                 `json:"n"`
	}{Base: d.Base, Changes: d.Changes, N: n})
	sum := sha256.Sum256(b)
	return "chg-" + hex.EncodeToString(sum[:6])
}

// sameChange says two proposals hold back the same pins from the same ones.
func sameChange(a, b *actions.ChangeProposedDetails) bool {
	if a.Base != b.Base || len(a.Changes) != len(b.Changes) {
		return false
	}
	for i := range a.Changes {
		if a.Changes[i] != b.Changes[i] {
			return false
		}
	}
	return true
}

// ChangeMismatchError says an approved change cannot be applied as it is:
// the files no longer hash to the pins approved, or the pins it was
// proposed against are no longer the ones in force.
type ChangeMismatchError struct {
	ID         string
	Superseded bool
	Mismatches []actions.PinChange // Old: approved (or the base), New: now
}

func (e *ChangeMismatchError) Error() string {
	var parts []string
	for _, m := range e.Mismatches {
		parts = append(parts, fmt.Sprintf("%s %s, not %s", m.File, orNone(m.New), orNone(m.Old)))
	}
	if e.Superseded {
		return fmt.Sprintf("change %s was proposed against pins no longer in force (%s): it is superseded; run `pawl pin` to propose the change again", e.ID, strings.Join(parts, "; "))
	}
	return fmt.Sprintf("change %s is not applied: files changed after it was proposed and approved (now %s): restore them, or run `pawl pin` to propose the new change for approval", e.ID, strings.Join(parts, "; "))
}

func orNone(d store.Digest) string {
	if d == "" {
		return "unpinned"
	}
	return string(d)
}

// proposalDiff is the lines of every guarded pin's content that a change
// removes and adds: each file of the policy bundle that differs (by its
// file list), and each settings document (one "key: value" line each).
func (p *Project) proposalDiff(old, next map[string]store.Digest, keys []string) []actions.FileDiff {
	out := []actions.FileDiff{}
	for _, k := range keys {
		if old[k] == next[k] {
			continue
		}
		if !IsGuarded(k) {
			// A file of a job's contract (the arbiter holds it).
			out = append(out, actions.FileDiff{File: k, Lines: lineDiff(p.blobLines(old[k]), p.blobLines(next[k]))})
			continue
		}
		if k == PolicyPinKey {
			of, nf := p.bundleFiles(old[k]), p.bundleFiles(next[k])
			var names []string
			for n := range of {
				names = append(names, n)
			}
			for n := range nf {
				if _, ok := of[n]; !ok {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			for _, n := range names {
				if of[n] == nf[n] {
					continue
				}
				out = append(out, actions.FileDiff{File: PolicyDir + "/" + n, Lines: lineDiff(p.blobLines(of[n]), p.blobLines(nf[n]))})
			}
			continue
		}
		out = append(out, actions.FileDiff{File: k, Lines: lineDiff(p.settingsLines(old[k]), p.settingsLines(next[k]))})
	}
	return out
}

// bundleFiles reads a pinned bundle's file list from the store: path →
// digest. An absent or unreadable list is empty.
func (p *Project) bundleFiles(d store.Digest) map[string]store.Digest {
	out := map[string]store.Digest{}
	if d == "" {
		return out
	}
	b, err := p.ReadBlob(d)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if sum, path, ok := strings.Cut(line, "  "); ok {
			out[path] = store.Digest("sha256:" + sum)
		}
	}
	return out
}

// maxDiffLines bounds the lines of a file that are diffed; a larger file
// (or one that is not UTF-8 text) is shown by its hashes.
const maxDiffLines = 2000

func (p *Project) blobLines(d store.Digest) []string {
	if d == "" {
		return nil
	}
	b, err := p.ReadBlob(d)
	if err != nil {
		return []string{fmt.Sprintf("(%s: %v)", d, err)}
	}
	if !utf8.Valid(b) {
		return []string{fmt.Sprintf("(binary, %d bytes, %s)", len(b), d)}
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) > maxDiffLines {
		return []string{fmt.Sprintf("(%d lines, %s)", len(lines), d)}
	}
	return lines
}

func (p *Project) settingsLines(d store.Digest) []string {
	if d == "" {
		return nil
	}
	b, err := p.ReadBlob(d)
	if err != nil {
		return []string{fmt.Sprintf("(%s: %v)", d, err)}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return []string{string(b)}
	}
	var out []string
	for k, v := range m {
		out = append(out, k+": "+string(v))
	}
	sort.Strings(out)
	return out
}

// lineDiff is the lines removed from a ("-") and added in b ("+"), in
// order, by the longest common subsequence.
func lineDiff(a, b []string) []string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	out := []string{}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "-"+a[i])
			i++
		default:
			out = append(out, "+"+b[j])
			j++
		}
	}
	return out
}

// SetSinglePerson turns the two-person rule off in a new project's
// pawl.yaml (`pawl init --single-person`), before its first pins.
func SetSinglePerson(root string) error {
	path := filepath.Join(root, ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	const on, off = "\n  two_person: true\n", "\n  two_person: false\n"
	if !bytes.Contains(b, []byte(on)) {
		return fmt.Errorf("%s has no `change: two_person: true` to turn off", path)
	}
	return durable.WriteFile(path, bytes.Replace(b, []byte(on), []byte(off), 1), 0o644)
}
