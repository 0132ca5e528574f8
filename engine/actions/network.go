package actions

// The network of sites (NATS JetStream): each message about the trail a
// site published to the hub, and each publication that did not reach it.
const (
	NetworkPublished     = "network.published"      // NetworkPublishedDetails
	NetworkPublishFailed = "network.publish_failed" // NetworkPublishFailedDetails
	// The hub's cosignature fetched back is a witness.cosigned entry
	// (via network); a fetch that did not end in one is this.
	NetworkCosignatureFailed = "network.cosignature_failed" // NetworkCosignatureFailedDetails
)

// The hub's own trail (trail.db in the hub's directory, not a site's):
// each of its decisions, so that hub.db cannot be edited unnoticed
// (`pawl network status --verify`).
const (
	HubFinding         = "hub.finding"          // HubFindingDetails
	HubFindingResolved = "hub.finding_resolved" // HubFindingResolvedDetails
	HubCosigned        = "hub.cosigned"         // HubCosignedDetails
	HubSiteKeyRotated  = "hub.site_key_rotated" // HubSiteKeyRotatedDetails
)

// HubFindingDetails: the hub found something wrong with a site's message.
type HubFindingDetails struct {
	Site   string `json:"site"`
	Kind   string `json:"kind"`   // split_view, fork, truncation, unproven, garbage, forged
	Detail string `json:"detail"` // the reason, as pawl network status shows it
	Seq    uint64 `json:"seq"`    // the message's sequence in its stream
	At     string `json:"at"`     // when the hub stored the message, RFC 3339
}

// HubFindingResolvedDetails: an unproven checkpoint was proven by the link
// that came late, and its finding resolved.
type HubFindingResolvedDetails struct {
	Site string `json:"site"`
	Kind string `json:"kind"`
	Seq  uint64 `json:"seq"`
}

// HubCosignedDetails: the hub cosigned a site's checkpoint.
type HubCosignedDetails struct {
	Site        string `json:"site"`
	Size        int64  `json:"size"`
	Root        []byte `json:"root"`        // base64 in JSON
	Cosignature string `json:"cosignature"` // the signed-note line
	Seq         uint64 `json:"seq"`         // the message's sequence in its stream
}

// HubSiteKeyRotatedDetails: the hub now holds a rotation of a site's
// engine key, from the site's key history (a message of kind key): the
// rotation statement (seal.RotationStatement: the site's trail id and
// both keys) signed by OldKey and by NewKey, where one of the two is a
// key the hub already held for the site. From entry From of the site's
// trail on, the hub checks the site's checkpoints and batch signatures
// against NewKey; before it, against OldKey.
type HubSiteKeyRotatedDetails struct {
	Site         string `json:"site"`
	Trail        string `json:"trail"`   // the site's trail id
	OldKey       string `json:"old_key"` // "ed25519 BASE64 KEYID"
	NewKey       string `json:"new_key"`
	From         int64  `json:"from"` // the seq of the site's engine.key_rotated entry
	OldSignature string `json:"old_signature"`
	NewSignature string `json:"new_signature"`
	Seq          uint64 `json:"seq"` // the message's sequence in its stream
}

// NetworkPublishedDetails: the hub's JetStream stored a message about the
// trail: the signed checkpoint of its first Size entries with the
// consistency proof from OldSize (the size last published), or a batch's
// usability signature (its signature.json, kind batch). MsgID is the message's sha256, its JetStream message id: a
// message published twice is stored once (Duplicate says the hub already
// held it).
type NetworkPublishedDetails struct {
	Hub     string `json:"hub"`             // the hub's URL
	Site    string `json:"site"`            // the site's id in the network
	Subject string `json:"subject"`         // pawl.site.<site>.checkpoint, .batch or .key
	Kind    string `json:"kind"`            // "checkpoint", "batch" or "key"
	Batch   string `json:"batch,omitempty"` // the batch whose signature.json it is (kind batch)
	Size    int64  `json:"size"`            // the checkpoint's tree size
	OldSize int64  `json:"old_size"`        // where its consistency proof starts (0: none)
	Root    []byte `json:"root"`            // base64 in JSON
	// Checkpoint is the signed checkpoint published (kind checkpoint):
	// the one the hub's cosignature is kept with, whatever key signs
	// checkpoints later.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Key is the engine key in force at the end of the key history
	// published (kind key: the whole history, each rotation signed by
	// both its keys).
	Key       string `json:"key,omitempty"`
	MsgID     string `json:"msg_id"`    // sha256 of the message, hex
	Stream    string `json:"stream"`    // the hub's stream
	Seq       uint64 `json:"seq"`       // the message's sequence in the stream
	Duplicate bool   `json:"duplicate"` // the hub already held it
	Decision  string `json:"decision"`  // the id of the policy decision that allowed it
}

// NetworkPublishFailedDetails: a publication to the hub did not end in the
// hub's acknowledgement. Nothing of the trail changed; the next
// publication carries the head, with a proof from the last size published.
type NetworkPublishFailedDetails struct {
	Hub      string `json:"hub"`
	Site     string `json:"site"`
	Kind     string `json:"kind"`
	Batch    string `json:"batch,omitempty"`
	Size     int64  `json:"size"`
	OldSize  int64  `json:"old_size"`
	Problem  string `json:"problem"` // denied, unreachable, refused
	Error    string `json:"error"`
	Decision string `json:"decision,omitempty"` // the id of the policy decision, when one was asked
}

// NetworkCosignatureFailedDetails: the site asked the hub for its
// cosignature of the checkpoint of Size entries it published and got
// none it could keep. Nothing of the trail changed; the next fetch asks
// again.
type NetworkCosignatureFailedDetails struct {
	Hub     string `json:"hub"`
	Site    string `json:"site"`
	Witness string `json:"witness"` // the hub's id in data.egress.witnesses
	Size    int64  `json:"size"`    // the checkpoint whose cosignature was asked
	Problem string `json:"problem"` // unreachable, unproven, invalid, refused
	Error   string `json:"error"`
}

func (NetworkPublishedDetails) Action() string         { return NetworkPublished }
func (NetworkCosignatureFailedDetails) Action() string { return NetworkCosignatureFailed }
func (HubFindingDetails) Action() string               { return HubFinding }
func (HubFindingResolvedDetails) Action() string       { return HubFindingResolved }
func (HubCosignedDetails) Action() string              { return HubCosigned }
func (HubSiteKeyRotatedDetails) Action() string        { return HubSiteKeyRotated }
func (NetworkPublishFailedDetails) Action() string     { return NetworkPublishFailed }
