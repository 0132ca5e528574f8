package pawl.authz_test

import data.pawl.authz

# A project adopting roles: its operators were enrolled before operators
# were bound (uid -1, no certificate); alice runs pawl locally as uid 1001.
req(action, op, extra) := object.union({
	"time": "2026-11-25T00:00:00Z",
	"action": action,
	"object": "file:pawl.lock",
	"reason": "adopt roles",
	"principal": {"uid": 1001, "user": "alice", "via": "process"},
	"operator": {"id": op, "enrolled": true, "uid": -1},
	"facts": {"resubmitted_by": [], "signed_meanings": [], "enrolled_names": [], "bundle_in_force": "sha256:old"},
}, extra)

decide(action, op, extra) := d if {
	d := authz.decision with input as req(action, op, extra)
}

denied_with(d, prefix) if {
	not d.allow
	some msg in d.deny
	startswith(msg, prefix)
}

test_pin_is_allowed if decide("pin", "alice", {}).allow

test_pin_needs_a_reason if denied_with(decide("pin", "alice", {"reason": " "}), "authz.reason: pin")

test_reading_is_allowed if decide("audit.read", "alice", {"object": "trail", "reason": "", "facts": {"read_only": true, "resubmitted_by": [], "signed_meanings": [], "enrolled_names": []}}).allow

test_run_is_refused if {
	d := decide("run", "alice", {"object": "job:feed"})
	denied_with(d, "authz.transition: the policy bundle in force (sha256:old) has no package pawl.authz")
	some msg in d.deny
	contains(msg, "not \"run\"")
}

test_signing_a_batch_is_refused if denied_with(decide("sign", "alice", {"object": "batch:b1"}), "authz.transition:")

test_read_only_must_be_true if denied_with(decide("export", "alice", {"object": "batch:b1", "facts": {"read_only": "yes", "resubmitted_by": [], "signed_meanings": [], "enrolled_names": []}}), "authz.transition:")

test_approving_own_change_is_refused if denied_with(decide("change.approve", "alice", {"object": "change:c1", "facts": {"proposer": "alice", "resubmitted_by": [], "signed_meanings": [], "enrolled_names": []}}), "authz.own_change:")

test_approving_anothers_change_is_allowed if decide("change.approve", "bob", {"object": "change:c1", "facts": {"proposer": "alice", "resubmitted_by": [], "signed_meanings": [], "enrolled_names": []}}).allow

test_approving_twice_is_refused if denied_with(decide("change.approve", "bob", {"object": "change:c1", "facts": {"proposer": "alice", "resubmitted_by": [], "signed_meanings": ["approved"], "enrolled_names": []}}), "authz.signed_twice:")

test_enrolling_needs_a_reason if denied_with(decide("operator.enrol", "alice", {"object": "operator:bob", "reason": "", "facts": {"name": "Bob", "resubmitted_by": [], "signed_meanings": [], "enrolled_names": []}}), "authz.reason: operator.enrol")

test_enrolling_a_taken_name_is_refused if denied_with(decide("operator.enrol", "alice", {"object": "operator:bob", "facts": {"name": "alice smith", "resubmitted_by": [], "signed_meanings": [], "enrolled_names": ["Alice Smith"]}}), "authz.name_taken:")

test_enrolling_is_allowed if decide("operator.enrol", "alice", {"object": "operator:bob", "facts": {"name": "Bob", "resubmitted_by": [], "signed_meanings": [], "enrolled_names": ["Alice Smith"]}}).allow

test_own_passphrase_only if {
	decide("operator.passwd", "alice", {"object": "operator:alice"}).allow
	denied_with(decide("operator.passwd", "alice", {"object": "operator:bob"}), "authz.self_service:")
}

test_bound_operator_acts_from_its_account if decide("pin", "bob", {"operator": {"id": "bob", "enrolled": true, "uid": 1001}}).allow

test_bound_operator_refused_from_another_account if denied_with(decide("pin", "bob", {"operator": {"id": "bob", "enrolled": true, "uid": 1002}}), "authz.identity:")

test_unbound_operator_refused_under_a_service if denied_with(decide("pin", "alice", {"principal": {"uid": 1001, "user": "alice", "via": "unix"}}), "authz.identity:")

test_certificate_operator if decide("pin", "carol", {"principal": {"uid": -1, "via": "tls", "cert": "sha256:cc"}, "operator": {"id": "carol", "enrolled": true, "uid": -1, "cert": "sha256:cc"}}).allow

test_time_missing if denied_with(decide("pin", "alice", {"time": ""}), "authz.input:")

test_adoption_without_admins_is_refused if {
	d := decide("pin", "alice", {"facts": {"missing_roles": ["admin"], "resubmitted_by": [], "signed_meanings": [], "enrolled_names": []}})
	denied_with(d, "authz.adoption: the bundle about to be put in force has roles, but its data.authz.roles gives nobody [\"admin\"]")
}

test_apply_without_admins_is_refused if denied_with(decide("change.apply", "alice", {"object": "change:c1", "facts": {"missing_roles": ["admin", "policy_admin"], "resubmitted_by": [], "signed_meanings": [], "enrolled_names": []}}), "authz.adoption:")
