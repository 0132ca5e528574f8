# METADATA
# title: pawl authorisation while a project adopts roles
# description: |
#   Asked instead of the bundle in force when that bundle has no package
#   pawl.authz: it was written before pawl asked who may do what, and cannot
#   answer. Rather than refuse everything (which would refuse the pin that
#   adopts roles, too) or allow everything (as before roles), pawl allows
#   what reads and the few steps that put a bundle with roles in force:
#   enrolling a second person, pinning, approving and applying the change,
#   and looking after operators' passphrases and accounts. Everything else
#   (runs, signatures on batches, exports, resubmissions, plugins, keys) is
#   refused until the new bundle is in force. Every decision is on record
#   like any other, made by this bundle (revision pawl-transition-1).
package pawl.authz

decision := {
	"allow": allow,
	"deny": deny,
	"roles": [],
}

default allow := false

allow if {
	permitted
	count(deny) == 0
}

operator := object.get(input, "operator", {})

operator_id := object.get(operator, "id", "")

principal := object.get(input, "principal", {})

facts := object.get(input, "facts", {})

action := object.get(input, "action", "")

# The steps of the adoption, and what a person needs meanwhile.
adoption := {
	"pin", "change.approve", "change.apply", "operator.enrol",
	"operator.passwd", "operator.unlock", "operator.revoke",
	"audit.checkpoint", "audit.export",
}

permitted if object.get(facts, "read_only", false) == true

permitted if action in adoption

# Who the caller may act as: an operator bound to the caller's account or
# certificate; in local mode also one enrolled before operators were bound
# (no account, no certificate) or not enrolled at all, as before roles.
default identified := false

identified if {
	operator.enrolled
	operator.uid >= 0
	operator.uid == principal.uid
}

identified if {
	operator.enrolled
	object.get(operator, "cert", "") != ""
	operator.cert == object.get(principal, "cert", "")
}

identified if {
	object.get(principal, "via", "") == "process"
	operator.uid < 0
	object.get(operator, "cert", "") == ""
}

deny contains msg if {
	not identified
	msg := sprintf("authz.identity: the request comes from %s and may not act as operator %q", [caller(principal), operator_id])
}

deny contains msg if {
	not permitted
	msg := sprintf("authz.transition: the policy bundle in force (%s) has no package pawl.authz: it predates roles, and until a bundle with roles is pinned only reading and the steps that adopt one are allowed, not %q; see docs/policy-guide.md, \"Adopting roles\"", [object.get(facts, "bundle_in_force", "?"), action])
}

deny contains msg if {
	action in {"operator.enrol", "operator.unlock", "operator.revoke", "pin"}
	trim_space(object.get(input, "reason", "")) == ""
	msg := sprintf("authz.reason: %s while the project adopts roles needs a reason (--reason TEXT)", [action])
}

deny contains msg if {
	action == "operator.enrol"
	some n in object.get(facts, "enrolled_names", [])
	lower(n) == lower(object.get(facts, "name", ""))
	msg := sprintf("authz.name_taken: the printed name %q is already enrolled: a printed name names one person", [facts.name])
}

deny contains msg if {
	action == "operator.passwd"
	input.object != concat(":", ["operator", operator_id])
	msg := sprintf("authz.self_service: an operator changes only their own passphrase: operator %q asked it on %s", [operator_id, input.object])
}

deny contains msg if {
	action == "change.approve"
	operator_id == object.get(facts, "proposer", "")
	msg := sprintf("authz.own_change: operator %q proposed %s and may not approve it: the two-person rule needs another person", [operator_id, input.object])
}

deny contains msg if {
	action == "change.approve"
	"approved" in object.get(facts, "signed_meanings", [])
	msg := sprintf("authz.signed_twice: operator %q has already approved %s: one approval per person", [operator_id, input.object])
}

# Adopting a bundle with roles that gives nobody admin or policy_admin
# would leave nobody able to enrol, grant or change the policy again.
deny contains msg if {
	action in {"pin", "change.apply"}
	count(object.get(facts, "missing_roles", [])) > 0
	msg := sprintf("authz.adoption: the bundle about to be put in force has roles, but its data.authz.roles gives nobody %v: in force, it would refuse everyone; name the holders (e.g. \"authz\": {\"roles\": {\"alice\": [\"admin\", \"policy_admin\"], ...}}) and pin again; see docs/policy-guide.md, \"Adopting roles\"", [facts.missing_roles])
}

deny contains "authz.input: input.time is missing" if object.get(input, "time", "") == ""

caller(p) := sprintf("uid %d via %s", [p.uid, p.via]) if p.uid >= 0

else := sprintf("certificate %s via %s", [object.get(p, "cert", ""), p.via])
