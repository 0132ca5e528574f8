package pawl.authz_test

import data.pawl.authz

roles := {
	"ada": ["admin"],
	"pat": ["policy_admin"],
	"olga": ["operator"],
	"rita": ["reviewer"],
	"al": ["approver", "operator"],
	"aud": ["auditor"],
}

# Alice's account is uid 1001; the request comes from it over the socket.
req(action, op, extra) := object.union({
	"time": "2026-11-25T00:00:00Z",
	"action": action,
	"object": "batch:b1",
	"reason": "",
	"principal": {"uid": 1001, "user": "alice", "via": "unix"},
	"operator": {"id": op, "enrolled": true, "uid": 1001},
	"facts": {"resubmitted_by": [], "signed_meanings": [], "enrolled_names": []},
}, extra)

decide(action, op, extra) := d if {
	d := authz.decision with input as req(action, op, extra) with data.authz.roles as roles
}

sign_facts(meaning, ran) := {"facts": {"meaning": meaning, "batch_run_by": ran, "resubmitted_by": [], "signed_meanings": [], "enrolled_names": []}}

test_operator_runs if decide("run", "olga", {}).allow

test_unknown_operator_has_no_role if {
	d := decide("run", "nobody", {})
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.role: run needs one of the roles")
}

test_unknown_action_is_denied if {
	d := decide("format.disk", "ada", {})
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.unknown_action")
}

test_auditor_reads_everything if {
	every a in ["audit.read", "audit.verify", "audit.export", "audit.prove", "audit.checkpoint", "batches.read", "change.read", "contract.read", "key.read", "quarantine.read", "operator.read", "plugin.read", "replay"] {
		decide(a, "aud", {}).allow
	}
}

test_auditor_changes_nothing if {
	every a in ["run", "resubmit", "record.correct_again", "export", "pin", "plugin.add", "operator.grant", "policy.approve_plugin", "operator.enrol", "operator.unlock", "operator.revoke", "time.outside_window", "key.rotate", "change.approve", "change.apply"] {
		not decide(a, "aud", {}).allow
	}
	every m in ["approved", "reviewed", "responsible"] {
		not decide("sign", "aud", sign_facts(m, "olga")).allow
	}
}

test_approver_approves_another_persons_batch if decide("sign", "al", sign_facts("approved", "olga")).allow

test_reviewer_reviews if decide("sign", "rita", sign_facts("reviewed", "olga")).allow

test_reviewer_does_not_approve if {
	d := decide("sign", "rita", sign_facts("approved", "olga"))
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.role: sign \"approved\" needs one of the roles [\"approver\"]")
}

test_nobody_approves_their_own_batch if {
	d := decide("sign", "al", sign_facts("approved", "al"))
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.own_batch: operator \"al\" ran batch:b1")
}

test_nobody_reviews_their_own_batch if {
	d := decide("sign", "rita", sign_facts("reviewed", "rita"))
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.own_batch")
}

test_responsible_for_their_own_batch if decide("sign", "al", sign_facts("responsible", "al")).allow

test_nobody_approves_a_batch_they_resubmitted_into if {
	d := decide("sign", "al", {"facts": {"meaning": "approved", "batch_run_by": "olga", "resubmitted_by": ["al"], "signed_meanings": [], "enrolled_names": []}})
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.own_batch: operator \"al\" resubmitted records into batch:b1")
}

test_one_signature_per_meaning_per_person if {
	d := decide("sign", "al", {"facts": {"meaning": "approved", "batch_run_by": "olga", "resubmitted_by": [], "signed_meanings": ["approved"], "enrolled_names": []}})
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.signed_twice")
}

enrol(name, names, reason) := decide("operator.enrol", "ada", {"object": "operator:bob", "reason": reason, "facts": {"name": name, "enrolled_names": names, "resubmitted_by": [], "signed_meanings": []}})

test_admin_enrols_with_a_reason if enrol("Bob Example", ["Alice Example"], "new QA reviewer").allow

test_enrolment_needs_admin if {
	d := decide("operator.enrol", "pat", {"object": "operator:bob", "reason": "r", "facts": {"name": "Bob", "enrolled_names": [], "resubmitted_by": [], "signed_meanings": []}})
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.role: operator.enrol needs one of the roles [\"admin\"]")
}

test_enrolment_needs_a_reason if {
	d := enrol("Bob Example", [], "  ")
	not d.allow
	"authz.reason: enrolling an operator needs a reason (--reason TEXT)" in d.deny
}

test_printed_name_is_unique if {
	d := enrol("alice EXAMPLE", ["Alice Example"], "r")
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.name_taken")
}

test_unlock_and_revoke_need_admin if {
	decide("operator.unlock", "ada", {"object": "operator:olga"}).allow
	decide("operator.revoke", "ada", {"object": "operator:olga"}).allow
	not decide("operator.unlock", "al", {"object": "operator:olga"}).allow
	not decide("operator.revoke", "olga", {"object": "operator:olga"}).allow
}

test_plugin_approval_policy_and_pins_need_policy_admin if {
	every a in ["policy.approve_plugin", "policy.revoke_plugin", "pin", "plugin.add", "plugin.remove", "operator.grant"] {
		decide(a, "pat", {}).allow
		not decide(a, "ada", {}).allow
		not decide(a, "olga", {}).allow
	}
}

test_passphrase_change_is_self_service if {
	decide("operator.passwd", "olga", {"object": "operator:olga"}).allow
	d := decide("operator.passwd", "olga", {"object": "operator:rita"})
	not d.allow
	"authz.self_service: an enrolled operator may \"operator.passwd\" only on themself: operator \"olga\" (enrolled) asked it on operator:rita" in d.deny
	not decide("operator.passwd", "ada", {"object": "operator:rita"}).allow
	u := decide("operator.passwd", "dave", {"object": "operator:dave", "operator": {"id": "dave", "enrolled": false, "uid": -1}, "principal": {"uid": 1001, "via": "process"}})
	not u.allow
	some msg in u.deny
	contains(msg, "(not enrolled)")
}

test_time_outside_window_needs_admin_and_a_reason if {
	decide("time.outside_window", "ada", {"reason": "backfill of the 2019 archive", "facts": {"flag": "--as-of", "given_time": "2019-01-01T00:00:00Z"}}).allow
	not decide("time.outside_window", "olga", {"reason": "backfill"}).allow
	d := decide("time.outside_window", "ada", {"facts": {"flag": "--as-of", "given_time": "2019-01-01T00:00:00Z"}})
	not d.allow
	"authz.reason: --as-of 2019-01-01T00:00:00Z outside the window needs a reason" in d.deny
}

# An operator bound to another account cannot be claimed.
test_operator_bound_to_another_uid_is_refused if {
	d := decide("run", "olga", {"operator": {"id": "olga", "enrolled": true, "uid": 1002}})
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.identity: operator \"olga\" is bound to uid 1002; the request comes from uid 1001 via unix")
	d.roles == []
}

test_operator_bound_to_a_certificate if {
	decide("run", "olga", {"operator": {"id": "olga", "enrolled": true, "uid": -1, "cert": "sha256:ab"}, "principal": {"uid": -1, "via": "tls", "cert": "sha256:ab"}}).allow
	not decide("run", "olga", {"operator": {"id": "olga", "enrolled": true, "uid": -1, "cert": "sha256:ab"}, "principal": {"uid": -1, "via": "tls", "cert": "sha256:cd"}}).allow
}

test_unenrolled_operator_only_in_local_mode if {
	decide("run", "olga", {"operator": {"id": "olga", "enrolled": false, "uid": -1}, "principal": {"uid": 1001, "via": "process"}}).allow
	d := decide("run", "olga", {"operator": {"id": "olga", "enrolled": false, "uid": -1}})
	not d.allow
	some msg in d.deny
	msg == "authz.not_enrolled: operator \"olga\" is not enrolled; under a service every operator acts through an enrolment bound to them (`pawl operator add olga --uid 1001`)"
}

test_unenrolled_certificate_is_told_to_enrol_by_certificate if {
	d := decide("run", "carol", {"operator": {"id": "carol", "enrolled": false, "uid": -1}, "principal": {"uid": -1, "via": "tls", "cert": "sha256:cc"}})
	not d.allow
	some msg in d.deny
	msg == "authz.not_enrolled: operator \"carol\" is not enrolled; under a service every operator acts through an enrolment bound to them (`pawl operator add carol --cert sha256:cc`)"
}

test_enrolled_before_binding_is_refused if {
	d := decide("run", "olga", {"operator": {"id": "olga", "enrolled": true, "uid": -1}})
	not d.allow
	some msg in d.deny
	contains(msg, "enrolled before operators were bound")
}

test_missing_time_is_denied if {
	d := authz.decision with input as object.remove(req("run", "olga", {}), ["time"]) with data.authz.roles as roles
	not d.allow
	"authz.input: input.time is missing" in d.deny
}

change_facts(proposer, signed) := {"object": "change:chg-1", "facts": {"proposer": proposer, "meaning": "approved", "resubmitted_by": [], "signed_meanings": signed, "enrolled_names": []}}

test_policy_admin_approves_another_persons_change if decide("change.approve", "pat", change_facts("ada", [])).allow

test_change_approval_needs_policy_admin if {
	d := decide("change.approve", "al", change_facts("ada", []))
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.role: change.approve needs one of the roles [\"policy_admin\"]")
}

test_nobody_approves_their_own_change if {
	d := decide("change.approve", "pat", change_facts("pat", []))
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.own_change: operator \"pat\" proposed change:chg-1")
}

test_one_approval_per_person if {
	d := decide("change.approve", "pat", change_facts("ada", ["approved"]))
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.signed_twice: operator \"pat\" has already approved change:chg-1")
}

test_policy_admin_applies_a_change if {
	decide("change.apply", "pat", {"object": "change:chg-1"}).allow
	not decide("change.apply", "olga", {"object": "change:chg-1"}).allow
}

test_approver_corrects_a_record_again if {
	decide("record.correct_again", "al", {"object": "record:b1/3"}).allow
	d := decide("record.correct_again", "olga", {"object": "record:b1/3"})
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.role: record.correct_again needs one of the roles [\"approver\"]")
}

test_key_rotation_needs_admin if {
	decide("key.rotate", "ada", {"object": "engine-key"}).allow
	not decide("key.rotate", "pat", {"object": "engine-key"}).allow
}

test_everyone_reads_changes_and_keys if {
	every op in ["ada", "pat", "olga", "rita", "al", "aud"] {
		decide("change.read", op, {}).allow
		decide("key.read", op, {}).allow
	}
}

test_state_reset_needs_an_approver_and_a_reason if {
	decide("state.reset", "al", {"object": "job:sensor-feed", "reason": "sensor recalibrated"}).allow
	d := decide("state.reset", "olga", {"object": "job:sensor-feed", "reason": "sensor recalibrated"})
	not d.allow
	some msg in d.deny
	startswith(msg, "authz.role: state.reset needs one of the roles [\"approver\"]")
	e := decide("state.reset", "al", {"object": "job:sensor-feed", "reason": " "})
	not e.allow
	"authz.reason: resetting the plugin state of job:sensor-feed needs a reason (--reason TEXT): a reset weakens the job's checks" in e.deny
}

test_every_role_reads_state if {
	every op in ["ada", "pat", "olga", "rita", "al", "aud"] {
		decide("state.read", op, {"object": "job:sensor-feed"}).allow
	}
}

# A review of the audit trail (21 CFR 11.10(e)) is e-signed by an auditor
# or a reviewer; it signs the trail, never a batch, so an auditor who may
# sign no batch may still sign that they reviewed the trail.
test_auditor_and_reviewer_sign_a_trail_review if {
	every op in ["aud", "rita"] {
		decide("audit.review", op, {"object": "review:12", "facts": {"meaning": "reviewed"}}).allow
	}
}

test_others_do_not_sign_a_trail_review if {
	every op in ["ada", "pat", "olga", "al"] {
		d := decide("audit.review", op, {"object": "review:12", "facts": {"meaning": "reviewed"}})
		not d.allow
		some msg in d.deny
		startswith(msg, "authz.role: audit.review needs one of the roles")
	}
}
