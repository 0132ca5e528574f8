package actions

import (
	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// Every action the trail holds. The "trail." actions are written by
// package audit itself; every other one is written through Append with the
// details type named beside it.
const (
	TrailCreated        = audit.ActionTrailCreated      // written by package audit
	TrailMigrated       = audit.ActionTrailMigrated     // written by package audit
	TrailClockAnomaly   = audit.ActionTrailClockAnomaly // written by package audit
	ProjectInit         = "project.init"                // ProjectInitDetails
	PinChanged          = "pin.changed"                 // PinChangedDetails
	PluginAdded         = "plugin.added"                // PluginAddedDetails
	PluginRefused       = "plugin.refused"              // PluginRefusedDetails
	PluginAddRefused    = "plugin.add_refused"          // PluginAddRefusedDetails
	PluginCacheRejected = "plugin.cache_rejected"       // PluginCacheRejectedDetails
	PluginApproved      = "policy.plugin_approved"      // PluginApprovedDetails
	RolesGranted        = "policy.roles_granted"        // RolesGrantedDetails
	PolicyDecision      = "policy.decision"             // PolicyDecisionDetails
	BatchCommitted      = "batch.committed"             // BatchRecord
	BatchFailed         = "batch.failed"                // BatchFailedDetails
	BatchReplayed       = "batch.replayed"              // BatchReplayedDetails
	RecordResubmitted   = "record.resubmitted"          // RecordResubmittedDetails
	BatchExportStarted  = "batch.export_started"        // BatchExportStartedDetails
	BatchExported       = "batch.exported"              // BatchExportedDetails
	BatchExportFailed   = "batch.export_failed"         // BatchExportFailedDetails
	Checkpoint          = "audit.checkpoint"            // CheckpointDetails
	AuditExported       = "audit.exported"              // AuditExportedDetails
	OperatorEnrolled    = "operator.enrolled"           // OperatorEnrolledDetails
	ESignSigned         = "esign.signed"                // ESignSignedDetails
	ESignFailed         = "esign.failed"                // ESignFailedDetails
	ESignSessionEnded   = "esign.session_ended"         // ESignSessionEndedDetails

	OperatorPassphraseChanged      = "operator.passphrase_changed"       // OperatorPassphraseChangedDetails
	OperatorPassphraseChangeFailed = "operator.passphrase_change_failed" // OperatorPassphraseChangeFailedDetails
	OperatorLocked                 = "operator.locked"                   // OperatorLockedDetails
	OperatorUnlocked               = "operator.unlocked"                 // OperatorUnlockedDetails
	OperatorRevoked                = "operator.revoked"                  // OperatorRevokedDetails

	ChangeProposed     = "change.proposed"         // ChangeProposedDetails
	ChangeApplyRefused = "change.apply_refused"    // ChangeApplyRefusedDetails
	ResubmitRefused    = "record.resubmit_refused" // ResubmitRefusedDetails
)

// Spec describes one action for the catalogue: its name, the object it is
// about, its details type and what it means. docs/audit-format.md lists the
// same, and a test fails when the two disagree.
type Spec struct {
	Action  string
	Object  string  // the form of the entry's object
	Details Details // a zero value of its details type; nil for the trail's own actions
	Meaning string
}

// Catalogue lists every action in the order docs/audit-format.md lists them.
func Catalogue() []Spec {
	return []Spec{
		{TrailCreated, "trail:<id>", nil, "entry 1 of every trail, written by package audit: trail id, schema version, creation time"},
		{TrailMigrated, "trail:<id>", nil, "a schema upgrade, written by package audit: from and to schema version"},
		{TrailClockAnomaly, "trail:<id>", nil, "an append refused because its time (the clock's, or one the caller gave) was before the newest entry's; written by package audit in place of the refused entry, dated at the newest entry's time: the clock's reading, the time given (if any), the newest entry's seq and time, and the refused entry's action, object and operator"},
		{ProjectInit, "project", ProjectInitDetails{}, "a project was created: the engine's public key, the pawl version"},
		{PinChanged, "file:pawl.lock", PinChangedDetails{}, "pawl.lock changed (`pawl pin`): every changed pin (old, new) and the new pins digest; the new values of pawl.yaml's pinned settings when their pin changed (`policy`: the bundle's trust settings with the public key's sha256 and fingerprint; `limits`); and, when pawl.lock was found edited by hand and the edit was accepted with a reason, what was found (`edited`: its digest, the pins on record then, the lines that differ). `change_settings`: the change-control settings when their pin changed; `esign`: the e-signature settings (`session_timeout_ms`) when their pin changed; `change`: the approved change this entry puts in force (its id, its change.proposed entry, the approving esign.signed entries); `two_person_waived`: guarded pins changed without a second person because `change.two_person` was pinned false; `contract`: for each job whose contract the pins written change, the arbiter's verdict (tightening, weakening, unknown) and every classified change (kind, part, at, keyword, reason) — a weakening only when `--weaken` was given and it was approved (or the rule waived)"},
		{PluginAdded, "plugin:<name@version>", PluginAddedDetails{}, "a plugin module was kept in the store and pinned (`pawl plugin add`, `pawl init`): its hash, mode, fields and lookups, and the new pins digest"},
		{PluginRefused, "plugin:<name@version>", PluginRefusedDetails{}, "a pinned plugin was refused before it ran: the pinned hash, the job and why (hash mismatch, import, ABI, policy)"},
		{PluginAddRefused, "plugin:<name@version> (or plugin:sha256:<hex> when the manifest cannot be read)", PluginAddRefusedDetails{}, "`pawl plugin add` refused a module and nothing was kept in the store or pinned: the module's hash, its name@version when its manifest could be read, the module that name@version is already pinned to (when that is why) and the error"},
		{PluginCacheRejected, "plugin:<name@version>", PluginCacheRejectedDetails{}, "an entry of the compilation cache failed its check (its MAC under the project's cache key, bound to the module's sha256) and was deleted before wazero read it: the module's hash, the entry, what was wrong (no MAC, a MAC that does not match its files, a file pawl does not write there) and whether the module was compiled afresh; nothing ran from the entry"},
		{PluginApproved, "plugin:<name@version>", PluginApprovedDetails{}, "a plugin hash was approved in `policies/data.json` with its capabilities; the reason is required"},
		{PluginRemoved, "plugin:<name@version>", PluginRemovedDetails{}, "a plugin's pin was removed from `pawl.lock` (`pawl plugin remove`; no job spec, in the tree or pinned, uses it): the hash it named and the new pins digest; the module stays in the store, so the batches that ran it still replay"},
		{PluginRemoveRefused, "plugin:<name@version>", PluginRemoveRefusedDetails{}, "`pawl plugin remove` refused and nothing changed: the pinned hash (when pinned), the jobs that still use it and the error"},
		{PluginRevoked, "plugin:<name@version>", PluginRevokedDetails{}, "a plugin hash was taken off the approved list in `policies/data.json` (`pawl policy revoke-plugin`), with the capabilities it had been approved for; the reason is required"},
		{PluginRevokeRefused, "plugin:<name@version>", PluginRevokeRefusedDetails{}, "`pawl policy revoke-plugin` refused (no reason, not approved, a signed bundle) and the bundle is unchanged: the error"},
		{RolesGranted, "operator:<id>", RolesGrantedDetails{}, "an operator id was given roles in `policies/data.json` (`authz.roles`; `pawl init` gives the initialising operator every role): the roles now held and the file; in force once the bundle is pinned"},
		{PolicyDecision, "batch:<id>, plugin:<name@version>, or what an authz decision is about (operator:<id>, project, ...)", PolicyDecisionDetails{}, "a policy decision, allow or deny, of kind plugins, classification, egress or authz (asked for every request): the whole decision (id, kind, query, time, canonical input, allow, deny reasons, result, bundle revision and sha256, OPA version), the batch and job, and the error when evaluation failed"},
		{BatchCommitted, "batch:<id>", BatchRecord{}, "the commit point of a batch: its whole record — job, classification, format, job spec / input / pin digests and the pins, the limits it ran under, schema, as-of (and, for an as-of given outside the time window with a reason, that it was outside and the window), counts per stage and rule, normalization statistics, output hashes, validators, lineage root, tiles and actions, the batch it resubmits, the plugin state it was judged against and produced (`state`: `state_in`, `state_out`, content hashes in the store, for a job whose plugins keep state; `migrated`: the plugins whose keys it carried to a new state format first), the pawl version, for a batch whose records went to workers (`distributed`) the work queue, the distribute decision and the workers, and how its quarantine lines hold records' bytes (`quarantine_format`; absent: format 1; \"The quarantine line\")"},
		{BatchFailed, "batch:<id>", BatchFailedDetails{}, "a batch failed and nothing was committed: job, input digest, the error"},
		{BatchReplayed, "batch:<id>", BatchReplayedDetails{}, "a committed batch was replayed from the store under its recorded plan: match or mismatch per artifact (outputs, actions, lineage file, tiles, root, counts), or why the replay could not run"},
		{RecordResubmitted, "batch:<original id>", RecordResubmittedDetails{}, "a corrected record ran as a new batch under the original batch's plan: original batch and ordinal, the new batch and its outcome; the reason is required. The corrections of one original record form a chain: `previous` names the correction before this one (its batch, its entry, whether it was accepted), and `root` the original record when the one corrected was itself a correction"},
		{ResubmitRefused, "batch:<original id>", ResubmitRefusedDetails{}, "a resubmission was refused and nothing ran: the record, the failure (no reason; denied: a record that already has an accepted correction needs the approver role) and the error, with the accepted correction when there is one"},
		{BatchExportStarted, "batch:<id>", BatchExportStartedDetails{}, "an allowed export began: the destination, the decision and the files with the hashes about to be sent, on record before the first byte leaves, and whether the decision's time was given outside the time window (with the window); an export interrupted after it has no batch.exported or batch.export_failed, and can be retried"},
		{BatchExported, "batch:<id>", BatchExportedDetails{}, "a batch left for a destination: the URL, the canonical destination, the whitelisted prefix that allowed it, the purpose, the decision, every file with its hash as checked at the destination, and whether the decision's time was given outside the time window (with the window)"},
		{BatchExportFailed, "batch:<id>", BatchExportFailedDetails{}, "an allowed export did not complete: the destination, the decision, the error and what, if anything, was written, and whether the decision's time was given outside the time window (with the window)"},
		{Checkpoint, "trail:<id>", CheckpointDetails{}, "a signed checkpoint of the trail was issued: origin, size and root (base64)"},
		{AuditExported, "export:<digest prefix>", AuditExportedDetails{}, "a review package was written for inspectors: directory, format, the SHA256SUMS digest, entries, batches, checkpoint size"},
		{AuditInspected, "export:<digest prefix>", InspectedDetails{}, "a verified review package was written for inspectors (`pawl inspect DIR`) after the whole trail verified: the directory, the SHA256SUMS digest and the engine key that signed it (SHA256SUMS.sig), the entries and batches it holds, its head checkpoint's size and the hash of its last entry"},
		{AuditInspectRefused, "export:<dir>", InspectRefusedDetails{}, "`pawl inspect` refused and wrote nothing: the directory, why (the trail or a batch does not verify, with each problem; the directory is not empty)"},
		{ValidationRun, "validation:<run id>", ValidationRunDetails{}, "`pawl validate` ran its installation and operational qualification in the project and wrote its signed report: the run id, whether IQ only, the checks run, passed, failed and warned (and the ids of those that failed), the sha256 of validation.json that validation.sig signs with the engine key (its key id), and the sha256 of the binary that ran"},
		{OperatorEnrolled, "operator:<id>", OperatorEnrolledDetails{}, "an operator was enrolled with a key of their own: id, printed name, public key (`ed25519 BASE64 KEYID`), key id, KDF (`pbkdf2-hmac-sha256+aes-256-gcm`, iterations), and the OS uid (and/or client certificate fingerprint) they are bound to: only a request from that account may act as them; the entry's operator is who enrolled them"},
		{ESignSigned, "batch:<id>, change:<id> or review:<seq>", ESignSignedDetails{}, "an operator e-signed a batch, approved a proposed change (manifest format `pawl-esign-change-v1`, naming the change and its change.proposed entry by seq and hash), or signed a review of the audit trail up to entry seq (manifest format `pawl-esign-review-v1`, naming that entry by `through_seq` and `through_entry`, its hash; `pawl audit review`): the manifest and the signature {alg, key_id, value}; the entry's operator is the signer, its time the signing time, its reason the signer's reason. `session` (when `esign.session_timeout` is not 0): the signing session it belongs to (21 CFR 11.200(a)(1)) — its id, whether this signing opened it (every component: the operator id and the passphrase) or, for a later signing in it, the entry that opened it (the passphrase only, the operator id taken from the session), the components used, the account (principal) the session is bound to and the timeout in force"},
		{ESignFailed, "batch:<id> or change:<id> (or the id given)", ESignFailedDetails{}, "an attempt to sign failed and nothing was signed: batch (or `change:<id>`), operator and meaning as given, the failure (wrong passphrase, passphrase expired, locked, revoked, unknown operator, unknown batch, bad meaning, key unusable, no reason, no session — a signing without an operator id when the caller's account has no signing session open; for a change also unknown change, own change, superseded, already applied) and the error; never the passphrase. A `wrong passphrase` counts towards the operator's lock-out. A refusal by the authz policy is not one of these: it is the policy.decision on record"},
		{ESignSessionEnded, "operator:<id>", ESignSessionEndedDetails{}, "a signing session (21 CFR 11.200(a)(1)(i)) was ended by its account (`pawl session end`): the session id, the operator, the account (principal) it belongs to, the entry that opened it, its last signing and how many signings it held. A session is opened by a signing with every component (`esign.signed` with `session.opened`) and ends here, after `esign.session_timeout` without a signing, or when its operator is locked, revoked or their passphrase expires; only the end asked for has an entry"},
		{OperatorPassphraseChanged, "operator:<id>", OperatorPassphraseChangedDetails{}, "an operator changed their passphrase (`pawl operator passwd`): the same key re-sealed under the new passphrase with a new salt and nonce; the key id, the KDF and the sha256 of the new key file (never the salt); the entry's operator is the operator, its time starts the passphrase's age. The commit point of the change: a key file staged before it is put in place after it, or discarded when the entry is missing"},
		{OperatorPassphraseChangeFailed, "operator:<id>", OperatorPassphraseChangeFailedDetails{}, "an attempt to change a passphrase failed and nothing changed: the operator as given, the failure (wrong passphrase, locked, revoked, unknown operator, key unusable) and the error; never a passphrase. A `wrong passphrase` counts towards the operator's lock-out"},
		{OperatorLocked, "operator:<id>", OperatorLockedDetails{}, "the alert: an operator reached `esign.lockout_after` consecutive wrong passphrases (at signing, or the old one at a change) since their last signature, change or unlock, and is locked; every later attempt is refused and recorded until an unlock. The entries of the counted attempts and the threshold"},
		{OperatorUnlocked, "operator:<id>", OperatorUnlockedDetails{}, "a locked operator was unlocked (`pawl operator unlock`): the lock entry it ends; the entry's operator is who unlocked them, the reason is required; the count of failed attempts starts again"},
		{OperatorRevoked, "operator:<id>", OperatorRevokedDetails{}, "an operator was revoked (`pawl operator revoke`): they can never sign again and their id is never enrolled again; signatures in entries before this one stay valid, any after it are invalid. The key id; the entry's operator is who revoked them, the reason is required"},
		{EngineKeyRotated, EngineKeyObject, KeyRotatedDetails{}, "the engine key was rotated (`pawl key rotate`): the old and the new public key, each one's signature over the rotation statement (`pawl engine key rotation v1`, the trail id and both keys, in canonical JSON), and how the new private key is kept (`plain` or `sealed`); the reason is required. From this entry on, batch signatures and checkpoints are made with the new key; the old private key is destroyed once the entry is on record"},
		{ChangeProposed, "change:<id>", ChangeProposedDetails{}, "the two-person rule held a change back (`pawl pin` found the policy bundle, `pawl.yaml#policy`, `#limits`, `#change` or `#esign` changed while `change.two_person` is pinned true, or the arbiter found a job's contract weakened and `pawl pin --weaken` proposed it): nothing of it is in force. `contract`: each weakened job's verdict and classified changes, its changed files among the pins held. The change id, the pins digest in force, each guarded pin (old, new), the new settings, the lines that differ; the entry's operator is the proposer. A second enrolled operator e-signs it (`esign.signed` about `change:<id>`, meaning approved) and `pawl change apply` (or `pawl pin`) puts exactly those pins in force with a `pin.changed` naming the change"},
		{ChangeApplyRefused, "change:<id>", ChangeApplyRefusedDetails{}, "an approved (or unapproved) change was not applied and nothing changed: the change id, why (not approved, only the proposer signed, superseded, files changed since the approval) and, for files that no longer hash to what was approved, each pin as approved and as found"},
		{StateReset, "job:<name>", StateResetDetails{}, "an approver reset a job's plugin state (`pawl state reset JOB --reason TEXT`; authz action `state.reset`, the reason required): the job, the state it replaces (`replaced`, the batch that produced it and its key count) and the state after (`after`, always the empty state). The job's next batch starts from the empty state: what the plugins had learnt is gone and their checks are weaker until they learn again. `pawl audit verify` accepts a reset as a link of the job's chain of states, the only way the chain may restart"},
		{WitnessCosigned, "trail:<id>", WitnessCosignedDetails{}, "a witness cosigned a checkpoint of the trail (`pawl audit witness push`, or the service after a commit; c2sp.org/tlog-witness): the witness's id in `data.egress.witnesses`, its key's name and hash, the checkpoint (origin, size, root), the witness's timestamp and the whole cosignature, the size it held before (the consistency proof's start), the policy decision that allowed the push and how the answer came (`https`, `file` across an air gap, or `network`: the network's hub, a witness with `network: true`, cosigned a checkpoint the site published, and the site fetched the cosignature over the network link; the decision is then the publication's). `pawl audit verify` checks each one against the witness key the bundle trusts and the trail's root at its size. On the network hub's own trail (operator `pawl-hub`) the witness is one of its configuration's `witnesses`, no decision is asked (empty), and `pawl network status --verify` checks it the same way"},
		{WitnessPushFailed, "trail:<id>", WitnessPushFailedDetails{}, "a push of a checkpoint to a witness did not end in a cosignature: the witness, its URL, the sizes pushed and claimed, the HTTP status (0: no answer) and the problem — `unreachable`, `denied` (by the policy: the decision is on record too), `refused` (403, 404, 400, 422: the witness does not trust the key or the proof), `conflict` (409: it holds another size; the push is retried once from it), `truncated` (it holds more entries than the trail: entries were deleted), `fork` (it holds another root at the same size), `garbage` (an answer that is not a valid cosignature). Nothing of the trail changed; the next push retries"},
		{NetworkPublished, "trail:<id>", NetworkPublishedDetails{}, "the network's hub (NATS JetStream) stored a message about the trail, allowed by the policy decision named (kind `network`): a signed checkpoint with the consistency proof from the size last published (`pawl serve` after a commit, with `network.hub` set), a committed batch's usability signature (its `signature.json`: job, classification, input, schema and plugin hashes, counts, output hashes, lineage root; kind `batch`, each batch once), or the engine key history after a rotation (kind `key`: every key with the entry it signs from and each rotation's two signatures, no operator or reason; each history once, before the batch signatures and checkpoint that follow it). The hub, the site, the subject (`pawl.site.<site>.checkpoint`, `.batch` or `.key`), the batch, the checkpoint's size and root and the signed checkpoint itself, the key in force (kind `key`), the proof's start, the message's sha256 (its JetStream message id: a message published twice is stored once, `duplicate`), the stream and sequence. Records never travel"},
		{NetworkPublishFailed, "trail:<id>", NetworkPublishFailedDetails{}, "a publication to the network's hub did not end in the hub's acknowledgement: the hub, the site, the sizes and the problem — `denied` (by the policy: the decision is on record too), `unreachable` (the hub is down or the link is cut), `refused` (the hub's server refused it: credentials, permissions, TLS). Nothing of the trail changed; the next publication carries the head with a proof from the last size published, so a site that was offline catches up"},
		{HubFinding, "site:<id>", HubFindingDetails{}, "in the network hub's own trail (`trail.db` in its directory, not a site's): the hub found something wrong with a site's message — the site, the kind (`split_view`, `fork`, `truncation`, `unproven`, `garbage`, `forged`, `key_conflict`), the reason, the message's sequence in its stream and when the hub stored it. `pawl network status --verify` checks that the findings in `hub.db` are exactly these"},
		{HubFindingResolved, "site:<id>", HubFindingResolvedDetails{}, "in the network hub's own trail: an `unproven` finding was resolved, the missing link of the chain of consistency proofs having come late; the site, the kind and the message's sequence"},
		{HubCosigned, "site:<id>", HubCosignedDetails{}, "in the network hub's own trail: the hub cosigned a site's checkpoint (consistent with everything it held of the site's trail): the site, the size, the root, the cosignature line and the message's sequence. `pawl network status --verify` checks that the cosignatures in `hub.db` are exactly these"},
		{HubSiteKeyRotated, "site:<id>", HubSiteKeyRotatedDetails{}, "in the network hub's own trail: the hub now holds a rotation of a site's engine key, published by the site as its key history (`pawl key rotate` on the site; message kind `key`): the site, its trail id, the old and the new key, the entry of the site's trail the new key signs from, both keys' signatures over the rotation statement (`pawl engine key rotation v1`) and the message's sequence. The hub takes a rotation only when one of its keys is a key it already held for the site and both signatures verify; from that entry on it checks the site's checkpoints and batch signatures against the new key. `pawl network status --verify` checks that the rotations in `hub.db` are exactly these"},
		{NetworkCosignatureFailed, "trail:<id>", NetworkCosignatureFailedDetails{}, "the site asked the network's hub (the witness with `network: true` in `data.egress.witnesses`) for its cosignature of the checkpoint it last published and got none it could keep: the hub, the site, the witness id, the size and the problem — `unreachable` (no answer: the hub is down or the link is cut), `unproven` (the hub holds the checkpoint but has not cosigned it: see its findings, `pawl network status`), `invalid` (an answer that is not the hub's valid cosignature of the trail's own checkpoint at that size: garbage, another key, or another root), `refused` (the hub refused the request). Nothing of the trail changed; the next fetch asks again"},
		{SourceReceived, "source:<job>/<source>", SourceReceivedDetails{}, "the gate picked a complete file up from a source's inbox (`pawl watch`, `pawl serve`), ran it as a batch (committed, or already committed: the file was seen before, or a crash came between the commit and the move) and moved it to `processed/<sha256>-<name>` in the inbox: the job, the source, the file's name, its sha256 and size, the batch id, the status, the records quarantined and where it went"},
		{SourceFailed, "source:<job>/<source>", SourceFailedDetails{}, "a file from a source's inbox made no committed batch (the batch failed, on record as `batch.failed`, or the run was refused before it began) and was moved to `failed/<sha256>-<name>` with a `.reason` file beside it: the job, the source, the file, its sha256 and size, the batch id when there was one, the error"},
		{SourceDeferred, "source:<job>/<source>", SourceDeferredDetails{}, "a file was left in a source's inbox for the next scan and nothing of it was committed: it changed (size, modification time or identity) or disappeared while it was read, or it could not be read or moved; the job, the source, the file and why"},
		{NoticeSent, "source:<job>/<source>", NoticeSentDetails{}, "a notice (a quarantine report: counts per rule, the first reasons with record ordinals and byte offsets) reached the source's notice destination, allowed by the egress decision named (kind `notice`): the batch, the URL and canonical destination, the file and its hash, whether it carries record bytes (only when the source asks and the policy allows), the attempt"},
		{NoticeFailed, "source:<job>/<source>", NoticeFailedDetails{}, "a notice was not delivered: `denied` by the egress policy (its `policy.decision` is on record; final, not retried) or `undeliverable` (the destination down, an I/O error: kept queued in `<data_dir>/notices/pending/` and retried after a pause that doubles from 5 s to an hour); the batch, the URL, the error, the attempt. The batch it reports stays committed: a notice never blocks the gate"},
	}
}

// ProjectInitDetails: a project was created.
type ProjectInitDetails struct {
	EngineKey   string `json:"engine_key"` // "ed25519 BASE64 KEYID"
	PawlVersion string `json:"pawl_version"`
}

// PinChangedDetails: pawl.lock was rewritten. PinsDigest is the digest of
// the pins written (lockfile.Pins.Digest); their lines are kept in the
// store under it. Every command that writes pawl.lock records it, and a
// pawl.lock whose digest is not the last one on record is refused.
type PinChangedDetails struct {
	Changes    []PinChange  `json:"changes"`
	PinsDigest store.Digest `json:"pins_digest"`
	// Policy and Limits are pawl.yaml's pinned settings as now pinned,
	// present when their pin (pawl.yaml#policy, pawl.yaml#limits) changed.
	Policy *PolicySettings `json:"policy,omitempty"`
	Limits *Limits         `json:"limits,omitempty"`
	// Edited is present when pawl.lock was found edited by hand and the
	// operator accepted it (`pawl pin --reason`).
	Edited *LockEdit `json:"edited,omitempty"`
	// ChangeSettings is pawl.yaml's change-control settings as now pinned,
	// present when their pin (pawl.yaml#change) changed.
	ChangeSettings *ChangeSettings `json:"change_settings,omitempty"`
	// ESign is pawl.yaml's e-signature settings as now pinned, present
	// when their pin (pawl.yaml#esign) changed.
	ESign *ESignSettings `json:"esign,omitempty"`
	// Change names the approved change (change.proposed and the approving
	// esign.signed entries) this pin change puts in force; TwoPersonWaived
	// says guarded pins changed without one because change.two_person was
	// pinned false (the one-person escape hatch).
	Change          *ChangeApplied `json:"change,omitempty"`
	TwoPersonWaived bool           `json:"two_person_waived,omitempty"`
	// Contract is, for each job whose contract these pins change, the
	// arbiter's classification of every change (engine/contract).
	Contract []ContractDiff `json:"contract,omitempty"`
}

// ContractDiff is the arbiter's comparison of one job's contract: the
// pins in force against the pins proposed or written.
type ContractDiff struct {
	Job string `json:"job"`
	// Verdict is "tightening", "weakening" or "unknown" (unknown is held
	// as a weakening is).
	Verdict string           `json:"verdict"`
	Changes []ContractChange `json:"changes"`
	// Evidence is what the empirical check found when no static rule
	// decided: the past quarantined records judged again, and how many
	// would now pass (each of them proves a weakening).
	Evidence *ContractEvidence `json:"evidence,omitempty"`
}

// ContractEvidence is the empirical check of a contract change at `pawl
// pin`: the new contract judged the records of past batches again.
type ContractEvidence struct {
	Batches     int   `json:"batches"`
	Quarantined int64 `json:"quarantined"` // past quarantined records judged
	Required    int   `json:"required"`    // change.contract_evidence in force
	NowPass     int   `json:"now_pass"`    // of them, would now pass
	// Cleared: none would pass, and at least Required were judged.
	Cleared bool `json:"cleared"`
}

// ContractChange is one classified change of a contract.
type ContractChange struct {
	Kind    string `json:"kind"` // tightening, weakening, unknown
	Part    string `json:"part"` // schema, profile, validator, limits
	At      string `json:"at"`   // a JSON Pointer into the record, a validator's or a limit's name
	Keyword string `json:"keyword,omitempty"`
	Reason  string `json:"reason"`
}

// ChangeSettings are pawl.yaml's change-control settings, as pinned: the
// pin pawl.yaml#change is the sha256 of their canonical JSON.
type ChangeSettings struct {
	TwoPerson bool `json:"two_person"`
	// ContractEvidence is change.contract_evidence when it is not the
	// default (1000): pins from before it existed, or with the default,
	// do not name it.
	ContractEvidence *int `json:"contract_evidence,omitempty"`
}

// ESignSettings are pawl.yaml's e-signature settings that decide what a
// signing needs, as pinned: the pin pawl.yaml#esign is the sha256 of their
// canonical JSON.
type ESignSettings struct {
	// SessionTimeoutMS is esign.session_timeout: how long after its last
	// signing a signing session stays open; 0, no sessions.
	SessionTimeoutMS int64 `json:"session_timeout_ms"`
	// The lifecycle rules (esign.lockout_after,
	// esign.passphrase_min_score, esign.passphrase_max_age_days); absent
	// from pins made before they were pinned, which then run under the
	// defaults.
	LockoutAfter         *int `json:"lockout_after,omitempty"`
	PassphraseMinScore   *int `json:"passphrase_min_score,omitempty"`
	PassphraseMaxAgeDays *int `json:"passphrase_max_age_days,omitempty"`
}

// ChangeApplied names the change a pin.changed entry puts in force.
type ChangeApplied struct {
	ID        string  `json:"id"`
	Proposed  int64   `json:"proposed"`  // the change.proposed entry
	Approvals []int64 `json:"approvals"` // the esign.signed entries that approve it (never the proposer's)
}

// ChangeProposedDetails: a change of guarded pins held back for a second
// person's approval.
type ChangeProposedDetails struct {
	ID string `json:"id"`
	// Base is the digest of the pins in force when it was proposed.
	Base store.Digest `json:"base"`
	// Changes are the guarded pins that change: Old in force, New proposed.
	Changes []PinChange `json:"changes"`
	// The new values of pawl.yaml's pinned settings whose pin changes.
	Policy         *PolicySettings `json:"policy,omitempty"`
	Limits         *Limits         `json:"limits,omitempty"`
	ChangeSettings *ChangeSettings `json:"change_settings,omitempty"`
	ESign          *ESignSettings  `json:"esign,omitempty"`
	// Diff is, per changed file (a bundle file, or a settings pin), the
	// lines removed ("-") and added ("+").
	Diff []FileDiff `json:"diff"`
	// Contract is present when the change weakens a job's contract (or
	// changes it in a way no static rule decides): the arbiter's
	// classification of every change, and Changes holds the job's files.
	Contract []ContractDiff `json:"contract,omitempty"`
}

// FileDiff is the lines of one file that a change removes and adds.
type FileDiff struct {
	File  string   `json:"file"`
	Lines []string `json:"lines"`
}

// ChangeApplyRefusedDetails: a change that was not applied.
type ChangeApplyRefusedDetails struct {
	ID      string `json:"id"`
	Failure string `json:"failure"` // not approved, own approval only, superseded, files changed
	Error   string `json:"error"`
	// Mismatches: Old is the pin approved, New the file's hash now.
	Mismatches []PinChange `json:"mismatches,omitempty"`
}

// LockEdit is a pawl.lock found edited by hand: its digest (its lines are
// kept in the store under it), the pins on record at the time and the
// lines that differ from them (when the pins on record can be read from
// the store).
type LockEdit struct {
	Found       store.Digest `json:"found"`
	Recorded    store.Digest `json:"recorded"`
	RecordedSeq int64        `json:"recorded_seq"` // the entry that recorded them; 0 when none did
	Changes     []PinChange  `json:"changes,omitempty"`
}

// PolicySettings are pawl.yaml's trust settings for the policy bundle, as
// pinned: the pin pawl.yaml#policy is the sha256 of their canonical JSON.
// The public key is pinned by its content, not only its path.
type PolicySettings struct {
	RequireSignature bool   `json:"require_signature"`
	PublicKey        string `json:"public_key"` // as configured; "" for none
	// PublicKeySHA256 is the sha256 of the key file's bytes and
	// PublicKeyFingerprint the key's (policies.KeyFingerprint, as every
	// decision the key verifies records it); both absent without a key.
	PublicKeySHA256      store.Digest `json:"public_key_sha256,omitempty"`
	PublicKeyFingerprint string       `json:"public_key_fingerprint,omitempty"`
	KeyID                string       `json:"key_id"`
}

// PinChange is one line of a pin change: Old is empty for a new pin, New
// for a removed one.
type PinChange struct {
	File string       `json:"file"`
	Old  store.Digest `json:"old,omitempty"`
	New  store.Digest `json:"new,omitempty"`
}

// PluginAddedDetails: a plugin module was stored and pinned.
type PluginAddedDetails struct {
	Plugin  string          `json:"plugin"` // name@version
	Hash    store.Digest    `json:"hash"`
	Mode    string          `json:"mode"`
	Fields  []sandbox.Field `json:"fields"`
	Lookups []string        `json:"lookups"`
	// PinsDigest is the digest of the pins written to pawl.lock, as in
	// PinChangedDetails; "" in entries written before it was recorded.
	PinsDigest store.Digest `json:"pins_digest"`
	// Replaces is the module a development version (-dev) was pinned to
	// before this build replaced it; absent otherwise.
	Replaces store.Digest `json:"replaces,omitempty"`
}

// PluginRefusedDetails: a pinned plugin was refused (hash mismatch, a
// forbidden import, the ABI, or the policy).
type PluginRefusedDetails struct {
	Plugin string       `json:"plugin"`
	Pinned store.Digest `json:"pinned"`
	Job    string       `json:"job"`
	Error  string       `json:"error"`
}

// PluginAddRefusedDetails: `pawl plugin add` refused a module (its
// manifest cannot be read, or its name@version is already pinned to other
// bytes); nothing was kept in the store or pinned.
type PluginAddRefusedDetails struct {
	Plugin string       `json:"plugin,omitempty"` // name@version, when the manifest could be read
	Hash   store.Digest `json:"hash"`             // the module offered
	Pinned store.Digest `json:"pinned,omitempty"` // what name@version is already pinned to
	Error  string       `json:"error"`
}

// PluginCacheRejectedDetails: a compilation cache entry failed its check
// and was deleted; the module was compiled afresh (Recompiled) instead.
type PluginCacheRejectedDetails struct {
	Plugin     string       `json:"plugin"` // name@version
	Hash       store.Digest `json:"hash"`   // the module's sha256
	Entry      string       `json:"entry"`  // the entry's directory
	Problem    string       `json:"problem"`
	Recompiled bool         `json:"recompiled"`
}

// PluginApprovedDetails: a plugin hash was added to the bundle's approved
// list.
type PluginApprovedDetails struct {
	Plugin       string       `json:"plugin"`
	Hash         store.Digest `json:"hash"`
	Capabilities []string     `json:"capabilities"`
	File         string       `json:"file"`
}

// PolicyDecisionDetails: every decision, allow and deny — the whole
// policies.Decision, the batch and job it was about and, when evaluation
// failed, the error.
type PolicyDecisionDetails struct {
	policies.Decision
	BatchID string `json:"batch_id,omitempty"`
	Job     string `json:"job,omitempty"`
	Error   string `json:"error,omitempty"`
}

// BatchFailedDetails: a batch failed and nothing was committed.
type BatchFailedDetails struct {
	BatchID        string       `json:"batch_id"`
	Job            string       `json:"job"`
	Classification string       `json:"classification"` // the job's, as the run saw it: what an egress decision about the batch is told
	Input          store.Digest `json:"input"`
	Error          string       `json:"error"`
}

// BatchReplayedDetails: what a replay found.
type BatchReplayedDetails struct {
	BatchID   string          `json:"batch_id"`
	Match     bool            `json:"match"`
	Artifacts []ArtifactCheck `json:"artifacts"`
	// Failure says why the replay could not run to the end.
	Failure string `json:"failure,omitempty"`
}

// ArtifactCheck compares one artifact of a batch with its replay.
type ArtifactCheck struct {
	Name     string `json:"name"`
	Recorded string `json:"recorded"`
	Replayed string `json:"replayed"`
	Match    bool   `json:"match"`
}

// RecordResubmittedDetails: a corrected record ran as a new batch.
type RecordResubmittedDetails struct {
	OriginalBatch   string `json:"original_batch"`
	OriginalOrdinal int64  `json:"original_ordinal"`
	NewBatch        string `json:"new_batch"`
	Status          string `json:"status"`
	Verified        bool   `json:"verified"`
	// Previous names the correction of the same original record before
	// this one (its new batch and its record.resubmitted entry): the
	// corrections of a record form a chain. Absent for the first.
	Previous *Correction `json:"previous,omitempty"`
	// Root is the original record, present when the record corrected
	// (OriginalBatch, OriginalOrdinal) was itself a correction.
	Root *Resubmission `json:"root,omitempty"`
}

// ResubmitRefusedDetails: a resubmission refused before it ran.
type ResubmitRefusedDetails struct {
	OriginalBatch   string      `json:"original_batch"`
	OriginalOrdinal int64       `json:"original_ordinal"`
	Failure         string      `json:"failure"` // no reason, denied
	Error           string      `json:"error"`
	Accepted        *Correction `json:"accepted,omitempty"` // the record's accepted correction, when it has one
}

// Correction is one resubmission of a record, as a later one names it.
type Correction struct {
	Batch    string `json:"batch"`    // the batch it ran as
	Entry    int64  `json:"entry"`    // its record.resubmitted entry
	Verified bool   `json:"verified"` // its record was accepted
}

// BatchExportStartedDetails: an allowed export began; nothing has left
// yet.
type BatchExportStartedDetails struct {
	BatchID     string         `json:"batch_id"`
	URL         string         `json:"url"`
	Destination string         `json:"destination"`
	Prefix      string         `json:"prefix"`
	Purpose     string         `json:"purpose"`
	DecisionID  string         `json:"decision_id"`
	DecisionSeq int64          `json:"decision_seq"`
	Files       []OutgoingFile `json:"files"` // what will be sent
	// TimeOutsideWindow says the decision's time was given (--time)
	// outside the window that needs no reason, and TimeWindow is that
	// window; the entry's reason says why.
	TimeOutsideWindow bool        `json:"time_outside_window,omitempty"`
	TimeWindow        *TimeWindow `json:"time_window,omitempty"`
}

// OutgoingFile is a file an export is about to send.
type OutgoingFile struct {
	Name  string       `json:"name"`
	Hash  store.Digest `json:"hash"`
	Bytes int64        `json:"bytes"`
}

// BatchExportedDetails: a batch's files reached the destination and their
// hashes were checked there.
type BatchExportedDetails struct {
	BatchID     string         `json:"batch_id"`
	URL         string         `json:"url"`
	Destination string         `json:"destination"` // canonical
	Prefix      string         `json:"prefix"`      // the whitelisted prefix that allowed it
	Purpose     string         `json:"purpose"`
	DecisionID  string         `json:"decision_id"`
	DecisionSeq int64          `json:"decision_seq"`
	Files       []ExportedFile `json:"files"`
	// As in BatchExportStartedDetails.
	TimeOutsideWindow bool        `json:"time_outside_window,omitempty"`
	TimeWindow        *TimeWindow `json:"time_window,omitempty"`
}

// BatchExportFailedDetails: an allowed export did not complete; Written
// says what, if anything, reached the destination.
type BatchExportFailedDetails struct {
	BatchID     string         `json:"batch_id"`
	URL         string         `json:"url"`
	Destination string         `json:"destination"`
	DecisionID  string         `json:"decision_id"`
	DecisionSeq int64          `json:"decision_seq"`
	Error       string         `json:"error"`
	Written     []ExportedFile `json:"written"`
	// As in BatchExportStartedDetails.
	TimeOutsideWindow bool        `json:"time_outside_window,omitempty"`
	TimeWindow        *TimeWindow `json:"time_window,omitempty"`
}

// ExportedFile is one file as it reached a destination.
type ExportedFile struct {
	Name  string       `json:"name"`
	To    string       `json:"to"` // a path (file) or a URL (https)
	Hash  store.Digest `json:"hash"`
	Bytes int64        `json:"bytes"`
	// Confirmed says the destination's copy was hashed after writing and
	// matched.
	Confirmed bool `json:"confirmed"`
}

// CheckpointDetails: a signed checkpoint of the trail was issued.
type CheckpointDetails struct {
	Origin string `json:"origin"`
	Size   int64  `json:"size"`
	Root   []byte `json:"root"` // base64 in JSON
}

// AuditExportedDetails: a review package was written.
type AuditExportedDetails struct {
	Dir            string `json:"dir"`
	Format         string `json:"format"`
	SHA256Sums     string `json:"sha256sums"` // "sha256:<hex>" of the package's SHA256SUMS
	Entries        int    `json:"entries"`
	Batches        int    `json:"batches"`
	CheckpointSize int64  `json:"checkpoint_size"`
}

// OperatorEnrolledDetails: who an operator is and which public key is
// theirs; the trail, not the key file, is the authority.
type OperatorEnrolledDetails struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`       // printed name
	PublicKey string      `json:"public_key"` // "ed25519 BASE64 KEYID"
	KeyID     string      `json:"key_id"`
	KDF       OperatorKDF `json:"kdf"`
	// UID is the OS account the operator is bound to: only a request
	// authenticated as that uid may act as them. Absent in entries written
	// before operators were bound (such an operator can act as nobody).
	UID *int `json:"uid,omitempty"`
	// Cert is the sha256 fingerprint of a client certificate the operator
	// is bound to instead (or as well), for a service over HTTPS.
	Cert string `json:"cert,omitempty"`
}

// RolesGrantedDetails: the roles an operator id holds in the bundle's
// data.json (authz.roles) were set.
type RolesGrantedDetails struct {
	Operator string   `json:"operator"`
	Roles    []string `json:"roles"`
	File     string   `json:"file"`
}

// OperatorKDF is how the operator's key file is sealed (never its salt).
type OperatorKDF struct {
	Alg        string `json:"alg"`
	Iterations int    `json:"iterations"`
}

// ESignSignedDetails: an e-signature and what it signs.
type ESignSignedDetails struct {
	Manifest  ESignManifest `json:"manifest"`
	Signature ESignValue    `json:"signature"`
	// Session is the signing session the signature belongs to, when
	// esign.session_timeout is not 0; it is not part of what is signed.
	Session *ESignSession `json:"session,omitempty"`
}

// The components of an e-signature (21 CFR 11.200(a)(1)): the operator id
// and the passphrase.
const (
	ComponentOperatorID = "operator_id"
	ComponentPassphrase = "passphrase"
)

// ESignSession says which signing session (21 CFR 11.200(a)(1)(i)) a
// signature belongs to: the first signing of a continuous period uses
// every component and opens it; a later one, by the same account within
// the timeout, uses the passphrase only.
type ESignSession struct {
	ID          string   `json:"id"`
	Opened      bool     `json:"opened"`                 // this signing opened the session
	OpenedEntry int64    `json:"opened_entry,omitempty"` // a later signing: the esign.signed entry that opened it
	Components  []string `json:"components"`             // ComponentOperatorID, ComponentPassphrase
	// Principal is the account the session is bound to: only a request
	// authenticated as it may sign in the session.
	Principal policies.Caller `json:"principal"`
	TimeoutMS int64           `json:"timeout_ms"` // esign.session_timeout in force
}

// ESignSessionEndedDetails: a signing session ended at its account's
// request.
type ESignSessionEndedDetails struct {
	ID          string          `json:"id"`
	Operator    string          `json:"operator"`
	Principal   policies.Caller `json:"principal"`
	OpenedEntry int64           `json:"opened_entry"` // the esign.signed entry that opened it
	LastEntry   int64           `json:"last_entry"`   // its last signing
	Signings    int             `json:"signings"`
}

// ESignManifest is what an operator signs; its canonical JSON is the signed
// message.
type ESignManifest struct {
	Format        string                  `json:"format"`
	BatchID       string                  `json:"batch_id"`
	BatchEntrySeq int64                   `json:"batch_entry_seq"`
	BatchEntry    string                  `json:"batch_entry"` // hash of the batch.committed entry
	Input         store.Digest            `json:"input"`
	LineageRoot   string                  `json:"lineage_root"`
	Outputs       map[string]store.Digest `json:"outputs"`
	Meaning       string                  `json:"meaning"`
	SignerID      string                  `json:"signer_id"`
	SignerName    string                  `json:"signer_name"`
	SignerKeyID   string                  `json:"signer_key_id"`
	Time          string                  `json:"time"`
	Reason        string                  `json:"reason"`
	// A signature on a change (format pawl-esign-change-v1) leaves the
	// batch fields empty and names the change: its id and its
	// change.proposed entry (seq and hash).
	ChangeID       string `json:"change_id,omitempty"`
	ChangeEntrySeq int64  `json:"change_entry_seq,omitempty"`
	ChangeEntry    string `json:"change_entry,omitempty"`
	// A signature on a review of the audit trail (format
	// pawl-esign-review-v1, about review:<seq>) leaves the batch fields
	// empty and names the last entry reviewed by seq and hash: that hash
	// chains every entry before it, so the signature covers exactly
	// entries 1 to through_seq.
	ThroughSeq   int64  `json:"through_seq,omitempty"`
	ThroughEntry string `json:"through_entry,omitempty"`
}

// ESignValue is the signature over the canonical manifest.
type ESignValue struct {
	Alg   string `json:"alg"`
	KeyID string `json:"key_id"`
	Value string `json:"value"` // base64 ed25519 signature
}

// ESignFailedDetails: an attempt to sign that failed, never the
// passphrase.
type ESignFailedDetails struct {
	Batch    string `json:"batch"`    // as given
	Operator string `json:"operator"` // as given
	Meaning  string `json:"meaning"`  // as given
	Failure  string `json:"failure"`  // wrong passphrase, passphrase expired, locked, revoked, unknown operator, unknown batch, bad meaning, key unusable, no reason, no session
	Error    string `json:"error"`
	// Session is the signing session the attempt was made in (a wrong
	// passphrase in a session counts towards the lock-out like any other).
	Session string `json:"session,omitempty"`
}

// OperatorPassphraseChangedDetails: an operator's key was re-sealed under
// a new passphrase. The public key does not change.
type OperatorPassphraseChangedDetails struct {
	ID          string       `json:"id"`
	KeyID       string       `json:"key_id"`
	KDF         OperatorKDF  `json:"kdf"`
	KeyFileHash store.Digest `json:"key_file_hash"` // the new key file's sha256: what a change cut short is completed with
}

// OperatorPassphraseChangeFailedDetails: an attempt to change a passphrase
// that failed, never a passphrase.
type OperatorPassphraseChangeFailedDetails struct {
	ID      string `json:"id"`      // as given
	Failure string `json:"failure"` // wrong passphrase, locked, revoked, unknown operator, key unusable
	Error   string `json:"error"`
}

// OperatorLockedDetails: an operator was locked out after too many wrong
// passphrases in a row.
type OperatorLockedDetails struct {
	ID             string  `json:"id"`
	FailedAttempts int     `json:"failed_attempts"` // consecutive wrong passphrases counted
	Attempts       []int64 `json:"attempts"`        // their entries (esign.failed, operator.passphrase_change_failed)
	LockoutAfter   int     `json:"lockout_after"`   // the threshold in force (esign.lockout_after)
}

// OperatorUnlockedDetails: a lock-out was ended by someone else.
type OperatorUnlockedDetails struct {
	ID          string `json:"id"`
	LockedEntry int64  `json:"locked_entry"` // the operator.locked entry this unlock ends
}

// OperatorRevokedDetails: an operator can no longer sign, and their id is
// never enrolled again.
type OperatorRevokedDetails struct {
	ID    string `json:"id"`
	KeyID string `json:"key_id"`
}

func (ProjectInitDetails) Action() string         { return ProjectInit }
func (PinChangedDetails) Action() string          { return PinChanged }
func (PluginAddedDetails) Action() string         { return PluginAdded }
func (PluginRefusedDetails) Action() string       { return PluginRefused }
func (PluginApprovedDetails) Action() string      { return PluginApproved }
func (RolesGrantedDetails) Action() string        { return RolesGranted }
func (PolicyDecisionDetails) Action() string      { return PolicyDecision }
func (BatchRecord) Action() string                { return BatchCommitted }
func (BatchFailedDetails) Action() string         { return BatchFailed }
func (BatchReplayedDetails) Action() string       { return BatchReplayed }
func (RecordResubmittedDetails) Action() string   { return RecordResubmitted }
func (BatchExportStartedDetails) Action() string  { return BatchExportStarted }
func (BatchExportedDetails) Action() string       { return BatchExported }
func (BatchExportFailedDetails) Action() string   { return BatchExportFailed }
func (CheckpointDetails) Action() string          { return Checkpoint }
func (AuditExportedDetails) Action() string       { return AuditExported }
func (OperatorEnrolledDetails) Action() string    { return OperatorEnrolled }
func (ESignSignedDetails) Action() string         { return ESignSigned }
func (ESignFailedDetails) Action() string         { return ESignFailed }
func (ESignSessionEndedDetails) Action() string   { return ESignSessionEnded }
func (PluginAddRefusedDetails) Action() string    { return PluginAddRefused }
func (PluginCacheRejectedDetails) Action() string { return PluginCacheRejected }

func (OperatorPassphraseChangedDetails) Action() string      { return OperatorPassphraseChanged }
func (OperatorPassphraseChangeFailedDetails) Action() string { return OperatorPassphraseChangeFailed }
func (OperatorLockedDetails) Action() string                 { return OperatorLocked }
func (OperatorUnlockedDetails) Action() string               { return OperatorUnlocked }
func (OperatorRevokedDetails) Action() string                { return OperatorRevoked }
func (ChangeProposedDetails) Action() string                 { return ChangeProposed }
func (ChangeApplyRefusedDetails) Action() string             { return ChangeApplyRefused }
func (ResubmitRefusedDetails) Action() string                { return ResubmitRefused }
