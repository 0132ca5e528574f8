package actions

import (
	"context"
	"fmt"

	"github.com/pawl-dev/pawl/audit"
)

// The trail's witnesses (C2SP tlog-witness): each cosignature a witness
// gave, and each push that did not end in one.
const (
	WitnessCosigned   = "witness.cosigned"    // WitnessCosignedDetails
	WitnessPushFailed = "witness.push_failed" // WitnessPushFailedDetails
)

// WitnessCosignedDetails: a witness cosigned a checkpoint of the trail.
// The checkpoint is the trail's first Size entries under Root; the
// cosignature (c2sp.org/tlog-cosignature: key hash, time, ed25519
// signature over "cosignature/v1\ntime T\n" and the checkpoint body) is
// kept whole, so that `pawl audit verify` checks it again against the
// witness key the bundle trusts, and against the trail's root at Size.
type WitnessCosignedDetails struct {
	Witness   string `json:"witness"`   // the destination id in data.egress.witnesses
	Name      string `json:"name"`      // the witness key's name
	KeyHash   string `json:"key_hash"`  // 8 hex digits
	Origin    string `json:"origin"`    // the checkpoint's origin
	Size      int64  `json:"size"`      // the checkpoint's tree size
	Root      []byte `json:"root"`      // base64 in JSON
	Time      int64  `json:"time"`      // the witness's timestamp, Unix seconds
	Signature []byte `json:"signature"` // base64 in JSON: the whole note signature
	OldSize   int64  `json:"old_size"`  // the size the witness held before (the proof's start)
	Decision  string `json:"decision"`  // the id of the policy decision that allowed the push
	Via       string `json:"via"`       // "https" or "file" (an air gap: the response read from a file)
}

// WitnessPushFailedDetails: a push of a checkpoint to a witness did not
// end in a cosignature. Nothing of the trail changed; the next push tries
// again from the witness's last cosigned size.
type WitnessPushFailedDetails struct {
	Witness  string `json:"witness"`
	URL      string `json:"url"`
	Size     int64  `json:"size"`     // the checkpoint pushed
	OldSize  int64  `json:"old_size"` // the size the push claimed the witness held
	Status   int    `json:"status"`   // the HTTP status, 0 when there was no answer
	Problem  string `json:"problem"`  // unreachable, conflict, refused, garbage, fork, truncated, denied
	Error    string `json:"error"`
	Decision string `json:"decision,omitempty"` // the id of the policy decision, when one was asked
}

func (WitnessCosignedDetails) Action() string   { return WitnessCosigned }
func (WitnessPushFailedDetails) Action() string { return WitnessPushFailed }

// CosignedSize is the largest size the trail t records witness id
// cosigning with key k (a witness.cosigned entry; 0: none). One reading
// serves the witnesses pushed to over HTTPS and the network's hub.
func CosignedSize(ctx context.Context, t *audit.Trail, id string, k audit.WitnessKey) (int64, error) {
	es, err := t.Find(ctx, WitnessCosigned, "trail:"+t.ID())
	if err != nil {
		return 0, err
	}
	keyHash := fmt.Sprintf("%08x", k.Hash)
	var n int64
	for _, e := range es {
		d, err := Decode[WitnessCosignedDetails](e)
		if err != nil {
			return 0, err
		}
		if d.Witness == id && d.Name == k.Name && d.KeyHash == keyHash && d.Size > n {
			n = d.Size
		}
	}
	return n, nil
}
