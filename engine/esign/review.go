package esign

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// A signed review of the audit trail (21 CFR 11.10(e)): an auditor or a
// reviewer e-signs, with the meaning "reviewed", that they reviewed the
// trail up to entry SEQ. The esign.signed entry is about review:<seq>; its
// manifest (pawl-esign-review-v1) names entry SEQ by seq and hash. That
// hash chains every entry before it, so the signature covers exactly
// entries 1 to SEQ, and verification rebuilds the manifest from the entry
// the trail holds at SEQ.

// reviewFormat names the manifest of a signature on a review of the trail.
const reviewFormat = "pawl-esign-review-v1"

// FailureUnknownEntry is the failure of an esign.failed entry about a
// review of an entry the trail does not have.
const FailureUnknownEntry = "unknown entry"

// ReviewOptions are the inputs of PrepareReview.
type ReviewOptions struct {
	Through  int64  // the last entry reviewed
	Meaning  string // "reviewed" (the only meaning of a review)
	Operator string // the reviewer; "" signs in the caller's signing session
	Reason   string
}

// PrepareReview makes every check of a signed review of the trail that
// needs no passphrase — entry Through exists, the operator, the authz
// question audit.review (on record) — each refusal on record as an
// esign.failed entry; the Pending signs with the passphrase, a wrong one
// counting towards the lock-out as for a batch. The caller checks first
// that the trail verifies (review.CheckTrail).
func PrepareReview(ctx context.Context, p *project.Project, opt ReviewOptions) (*Pending, error) {
	object := "review:" + strconv.FormatInt(opt.Through, 10)
	var te audit.Entry
	so := SignOptions{Batch: object, Meaning: opt.Meaning, Operator: opt.Operator, Reason: opt.Reason}
	return prepare(ctx, p, so, object, signTarget{
		resolve: func() (string, string, error) {
			if Meaning(opt.Meaning) != MeaningReviewed {
				return "", "bad meaning", fmt.Errorf("meaning %q: a review of the audit trail is signed with the meaning reviewed", opt.Meaning)
			}
			head, err := p.Trail.Head(ctx)
			if err != nil {
				return "", "", err
			}
			if opt.Through < 1 || opt.Through > head.Seq {
				return "", FailureUnknownEntry, fmt.Errorf("--through %d: the audit trail has entries 1 to %d: name one of them (`pawl audit log`)", opt.Through, head.Seq)
			}
			if te, err = p.Trail.Get(ctx, opt.Through); err != nil {
				return "", "", err
			}
			return object, "", nil
		},
		authorize: func(op *Operator, meaning Meaning) error {
			return gate.Authorize(ctx, p, gate.AuthzRequest{Action: gate.ActionReviewTrail, Object: object, Operator: op.ID, Reason: opt.Reason,
				Facts: policies.AuthzFacts{Meaning: string(meaning), ResubmittedBy: []string{}, SignedMeanings: []string{}, EnrolledNames: []string{}}})
		},
		approvalHint: "what was reviewed",
		manifest: func(meaning Meaning, op *Operator, tm, reason string) *actions.ESignManifest {
			return manifestForReview(te, meaning, op, tm, reason)
		},
		verify: func(ops map[string]*Operator, e audit.Entry) ESignature { return verifyReview(te, ops, e) },
	})
}

// manifestForReview builds the manifest of a signature on a review of the
// trail up to entry te.
func manifestForReview(te audit.Entry, meaning Meaning, op *Operator, tm, reason string) *actions.ESignManifest {
	return &actions.ESignManifest{
		Format: reviewFormat, ThroughSeq: te.Seq, ThroughEntry: te.Hash, Outputs: map[string]store.Digest{},
		Meaning: string(meaning), SignerID: op.ID, SignerName: op.Name, SignerKeyID: op.KeyID, Time: tm, Reason: reason,
	}
}

// verifyReview checks one esign.signed entry about a review against the
// entry te the trail holds at the seq it names.
func verifyReview(te audit.Entry, ops map[string]*Operator, e audit.Entry) ESignature {
	return verifySigned(ops, e, func(m *actions.ESignManifest, op *Operator) (*actions.ESignManifest, string) {
		if e.Object != "review:"+strconv.FormatInt(te.Seq, 10) || te.Seq >= e.Seq {
			return nil, fmt.Sprintf("it is about %s and names entry %d: a review names an entry before it, by its own object", e.Object, m.ThroughSeq)
		}
		if m.Meaning != string(MeaningReviewed) {
			return nil, fmt.Sprintf("a review of the trail is signed with the meaning reviewed, not %q", m.Meaning)
		}
		return manifestForReview(te, Meaning(m.Meaning), op, m.Time, m.Reason), ""
	})
}

// TrailReview is a signed review of the audit trail, verified.
type TrailReview struct {
	ESignature
	Through int64 `json:"through"` // the last entry reviewed
	// Covered is how many entries this review added to the reviewed part
	// of the trail: those after the newest valid review before it (or
	// from entry 1) up to Through; 0 for an invalid review or one that
	// covers nothing new.
	Covered int64 `json:"covered"`
}

// Reviews is every signed review of the trail, oldest first, each
// verified, and the entries after the newest valid review (up to the
// head): what is left to review.
type Reviews struct {
	Reviews []TrailReview `json:"reviews"`
	// Through is the newest entry a valid review covers (0: none).
	Through int64 `json:"through"`
	// Head is the newest entry of the trail; Unreviewed = Head - Through.
	Head       int64 `json:"head"`
	Unreviewed int64 `json:"unreviewed"`
}

// TrailReviews reads every signed review of the trail and says what is
// left unreviewed since the newest valid one. The report (report.html)
// and `pawl audit reviews` show it.
func TrailReviews(ctx context.Context, p *project.Project) (*Reviews, error) {
	out := &Reviews{Reviews: []TrailReview{}}
	head, err := p.Trail.Head(ctx)
	if errors.Is(err, audit.ErrEmpty) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	out.Head = head.Seq
	es, err := p.Trail.List(ctx, audit.Filter{Action: actions.ESignSigned, ObjectPrefix: "review:"})
	if err != nil {
		return nil, err
	}
	var ops map[string]*Operator
	for _, e := range es {
		d, err := actions.Decode[actions.ESignSignedDetails](e)
		if err != nil || d.Manifest.Format != reviewFormat {
			continue
		}
		if ops == nil {
			all, err := operators(ctx, p, false)
			if err != nil {
				return nil, err
			}
			ops = map[string]*Operator{}
			for _, op := range all {
				ops[op.ID] = op
			}
		}
		r := TrailReview{Through: d.Manifest.ThroughSeq}
		te, err := p.Trail.Get(ctx, d.Manifest.ThroughSeq)
		switch {
		case errors.Is(err, audit.ErrNotFound) || d.Manifest.ThroughSeq < 1:
			r.ESignature = ESignature{AuditSeq: e.Seq, AuditEntry: e.Hash, SignerID: e.Operator, Reason: e.Reason, Manifest: d.Manifest,
				Problem: fmt.Sprintf("it names entry %d, which the trail does not have", d.Manifest.ThroughSeq)}
		case err != nil:
			return nil, err
		default:
			r.ESignature = verifyReview(te, ops, e)
		}
		if r.Valid && r.Through > out.Through {
			r.Covered = r.Through - out.Through
			out.Through = r.Through
		}
		out.Reviews = append(out.Reviews, r)
	}
	out.Unreviewed = out.Head - out.Through
	return out, nil
}
