package actions

import "github.com/pawl-dev/pawl/engine/store"

// The gate: files picked up from a job's sources (inboxes) and the notices
// sent back to each source.
const (
	SourceReceived = "source.received" // SourceReceivedDetails
	SourceFailed   = "source.failed"   // SourceFailedDetails
	SourceDeferred = "source.deferred" // SourceDeferredDetails
	NoticeSent     = "notice.sent"     // NoticeSentDetails
	NoticeFailed   = "notice.failed"   // NoticeFailedDetails
)

// InboxOrigin is where a batch's input came from when the gate picked it up
// from a source's inbox: the source and the file's name as it landed.
type InboxOrigin struct {
	Source string `json:"source"`
	File   string `json:"file"`
}

// SourceReceivedDetails: a complete file was picked up from a source's
// inbox, ran as a batch (committed now, or already: a rerun) and was moved
// to processed/ under its content hash. The batch.committed entry comes
// first: the move is after the commit point, and a file found again after
// a crash in between is recognised by its content-derived batch id.
type SourceReceivedDetails struct {
	Job         string       `json:"job"`
	Source      string       `json:"source"`
	File        string       `json:"file"` // the name it landed under
	Input       store.Digest `json:"input"`
	Bytes       int64        `json:"bytes"`
	BatchID     string       `json:"batch_id"`
	Status      string       `json:"status"` // committed, already_committed
	Quarantined int64        `json:"records_quarantined"`
	MovedTo     string       `json:"moved_to"` // relative to the inbox: processed/<sha256>-<name>
}

// SourceFailedDetails: a file from a source's inbox did not make a
// committed batch (the batch failed, on record as batch.failed, or it was
// refused before one began) and was moved to failed/ with a .reason file.
type SourceFailedDetails struct {
	Job     string       `json:"job"`
	Source  string       `json:"source"`
	File    string       `json:"file"`
	Input   store.Digest `json:"input,omitempty"`
	Bytes   int64        `json:"bytes"`
	BatchID string       `json:"batch_id,omitempty"` // when the batch got as far as an id
	Error   string       `json:"error"`
	MovedTo string       `json:"moved_to"` // relative to the inbox: failed/<sha256>-<name>
}

// SourceDeferredDetails: a file was left in a source's inbox for the next
// scan, nothing of it committed: it changed or disappeared while it was
// read, or it could not be read or moved.
type SourceDeferredDetails struct {
	Job    string `json:"job"`
	Source string `json:"source"`
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// NoticeSentDetails: a notice (a quarantine report) reached a source's
// notice destination, allowed by the egress decision named.
type NoticeSentDetails struct {
	Job         string       `json:"job"`
	Source      string       `json:"source"`
	BatchID     string       `json:"batch_id"`
	URL         string       `json:"url"`
	Destination string       `json:"destination"` // canonical
	DecisionID  string       `json:"decision_id"`
	DecisionSeq int64        `json:"decision_seq"`
	File        string       `json:"file"`
	Hash        store.Digest `json:"hash"`
	Records     bool         `json:"records"` // the report carries record bytes
	Attempt     int          `json:"attempt"`
}

// NoticeFailedDetails: a notice was not delivered. Problem "denied" (the
// egress policy refused it: the policy.decision is on record) is final;
// "undeliverable" leaves it queued, retried at the next scan.
type NoticeFailedDetails struct {
	Job         string `json:"job"`
	Source      string `json:"source"`
	BatchID     string `json:"batch_id"`
	URL         string `json:"url"`
	Problem     string `json:"problem"` // denied, undeliverable
	Error       string `json:"error"`
	DecisionSeq int64  `json:"decision_seq,omitempty"`
	Attempt     int    `json:"attempt"`
	Queued      bool   `json:"queued"` // kept for the next scan
}

func (SourceReceivedDetails) Action() string { return SourceReceived }
func (SourceFailedDetails) Action() string   { return SourceFailed }
func (SourceDeferredDetails) Action() string { return SourceDeferred }
func (NoticeSentDetails) Action() string     { return NoticeSent }
func (NoticeFailedDetails) Action() string   { return NoticeFailed }
