package pawl.egress_test

import data.pawl.egress

# A whitelist and the index pawl would derive from it (by canonical prefix).
destinations := {
	"partner": {
		"url": "https://partner.example/inbox/",
		"classifications": ["public", "internal"],
		"requires_approval": false,
	},
	"partner-restricted": {
		"url": "https://partner.example/inbox/restricted/",
		"classifications": ["public", "internal", "confidential"],
		"requires_approval": true,
	},
	"outbox": {
		"url": "file:///srv/pawl/outbox/",
		"classifications": ["public"],
		"purposes": ["publication"],
	},
}

index := {
	"https://partner.example/inbox/": ["partner"],
	"https://partner.example/inbox/restricted/": ["partner-restricted"],
	"file:///srv/pawl/outbox/": ["outbox"],
}

request := {
	"time": "2025-01-02T03:04:05Z",
	"principal": {"id": "alice"},
	"purpose": "publication",
	"resource": {
		"batch_id": "b1",
		"state": "committed",
		"classification": "internal",
		"signatures": [],
	},
	"destination": {
		"url": "https://partner.example/inbox/b1.jsonl",
		"canonical": "https://partner.example/inbox/b1.jsonl",
		"candidates": [
			"https://partner.example/",
			"https://partner.example/inbox/",
			"https://partner.example/inbox/b1.jsonl",
		],
	},
}

restricted_destination := {
	"url": "https://partner.example/inbox/restricted/b1.jsonl",
	"canonical": "https://partner.example/inbox/restricted/b1.jsonl",
	"candidates": [
		"https://partner.example/",
		"https://partner.example/inbox/",
		"https://partner.example/inbox/restricted/",
		"https://partner.example/inbox/restricted/b1.jsonl",
	],
}

decide(req) := d if {
	d := egress.decision with input as req
		with data.egress.destinations as destinations
		with data.pawl_derived.egress.by_prefix as index
}

test_allows_committed_batch_to_whitelisted_prefix if {
	d := decide(request)
	d.allow == true
	d.deny == set()
	d.prefix == "https://partner.example/inbox/"
	d.destinations == {"partner"}
}

test_denies_uncommitted_batch if {
	d := decide(json.patch(request, [{"op": "replace", "path": "/resource/state", "value": "pending"}]))
	d.allow == false
	"egress.not_committed: batch \"b1\" is in state \"pending\"; only committed batches may leave" in d.deny
}

test_denies_classification_not_accepted if {
	d := decide(json.patch(request, [{"op": "replace", "path": "/resource/classification", "value": "phi"}]))
	d.allow == false
	some msg in d.deny
	startswith(msg, "egress.classification: destination \"partner\"")
	contains(msg, "\"phi\"")
}

test_denies_url_outside_whitelist if {
	d := decide(json.patch(request, [{"op": "replace", "path": "/destination", "value": {
		"url": "https://partner.example/inbox-evil/x",
		"canonical": "https://partner.example/inbox-evil/x",
		"candidates": ["https://partner.example/", "https://partner.example/inbox-evil/", "https://partner.example/inbox-evil/x"],
	}}]))
	d.allow == false
	"egress.not_whitelisted: no whitelisted destination prefix matches \"https://partner.example/inbox-evil/x\"" in d.deny
}

test_denies_refused_url if {
	d := decide(json.patch(request, [{"op": "replace", "path": "/destination", "value": {
		"url": "https://partner.example@evil.example/",
		"refused": "userinfo is not allowed",
	}}]))
	d.allow == false
	"egress.url_refused: userinfo is not allowed" in d.deny
}

test_most_specific_prefix_requires_approval if {
	d := decide(json.patch(request, [{"op": "replace", "path": "/destination", "value": restricted_destination}]))
	d.allow == false
	"egress.approval_required: destination \"partner-restricted\" requires an \"approved\" e-signature on batch \"b1\"; none found" in d.deny
}

test_approval_signature_allows if {
	d := decide(json.patch(request, [
		{"op": "replace", "path": "/destination", "value": restricted_destination},
		{"op": "replace", "path": "/resource/signatures", "value": [{"signer": "qa-lead", "meaning": "approved", "batch_id": "b1", "time": "2025-01-02T03:00:00Z"}]},
	]))
	d.allow == true
	d.destinations == {"partner-restricted"}
}

test_approval_for_another_batch_does_not_count if {
	d := decide(json.patch(request, [
		{"op": "replace", "path": "/destination", "value": restricted_destination},
		{"op": "replace", "path": "/resource/signatures", "value": [{"signer": "qa-lead", "meaning": "approved", "batch_id": "b0"}]},
	]))
	d.allow == false
}

test_reviewed_signature_is_not_an_approval if {
	d := decide(json.patch(request, [
		{"op": "replace", "path": "/destination", "value": restricted_destination},
		{"op": "replace", "path": "/resource/signatures", "value": [{"signer": "qa-lead", "meaning": "reviewed", "batch_id": "b1"}]},
	]))
	d.allow == false
}

test_purpose_must_be_listed if {
	file_request := json.patch(request, [
		{"op": "replace", "path": "/resource/classification", "value": "public"},
		{"op": "replace", "path": "/destination", "value": {
			"url": "file:///srv/pawl/outbox/b1.jsonl",
			"canonical": "file:///srv/pawl/outbox/b1.jsonl",
			"candidates": ["file:///", "file:///srv/", "file:///srv/pawl/", "file:///srv/pawl/outbox/", "file:///srv/pawl/outbox/b1.jsonl"],
		}},
	])
	decide(file_request).allow == true
	d := decide(json.patch(file_request, [{"op": "replace", "path": "/purpose", "value": "marketing"}]))
	d.allow == false
	some msg in d.deny
	startswith(msg, "egress.purpose: destination \"outbox\"")
}

test_missing_principal_denies if {
	d := decide(json.remove(request, ["/principal"]))
	d.allow == false
	"egress.input: input.principal.id is missing" in d.deny
}

test_empty_whitelist_denies_everything if {
	d := egress.decision with input as request
		with data.egress.destinations as {}
		with data.pawl_derived.egress.by_prefix as {}
	d.allow == false
}

test_missing_time_denies if {
	d := decide(json.remove(request, ["/time"]))
	d.allow == false
	"egress.input: input.time is missing" in d.deny
}

# A notice reports a failed batch too; an export of one is refused.
test_notice_may_report_a_failed_batch if {
	failed := json.patch(request, [{"op": "replace", "path": "/resource/state", "value": "failed"}])
	decide(failed).allow == false
	d := decide(json.patch(failed, [{"op": "add", "path": "/kind", "value": "notice"}]))
	d.allow == true
	d.notice_records == false
}

# A batch's OpenLineage events go whatever its state (a START, a FAIL), by
# the same whitelist: another classification is refused.
test_lineage_events_of_any_state if {
	lineage := json.patch(request, [{"op": "add", "path": "/kind", "value": "lineage"}])
	every state in ["running", "failed", "committed"] {
		decide(json.patch(lineage, [{"op": "replace", "path": "/resource/state", "value": state}])).allow == true
	}
	d := decide(json.patch(lineage, [{"op": "replace", "path": "/resource/classification", "value": "phi"}]))
	d.allow == false
	d.notice_records == false
}

# Record bytes go in a notice only when it asks and the destination says so.
test_notice_records_need_the_destination if {
	notice := json.patch(request, [{"op": "add", "path": "/kind", "value": "notice"}, {"op": "add", "path": "/records", "value": true}])
	decide(notice).notice_records == false
	with_records := json.patch(destinations, [{"op": "add", "path": "/partner/notice_records", "value": true}])
	d := egress.decision with input as notice
		with data.egress.destinations as with_records
		with data.pawl_derived.egress.by_prefix as index
	d.allow == true
	d.notice_records == true
	d2 := egress.decision with input as json.remove(notice, ["/records"])
		with data.egress.destinations as with_records
		with data.pawl_derived.egress.by_prefix as index
	d2.notice_records == false
}

# A notice goes by the whitelist like an export: another classification is refused.
test_notice_refused_for_another_classification if {
	notice := json.patch(request, [{"op": "add", "path": "/kind", "value": "notice"}, {"op": "replace", "path": "/resource/classification", "value": "phi"}])
	d := decide(notice)
	d.allow == false
	some msg in d.deny
	startswith(msg, "egress.classification: destination \"partner\"")
}
