# METADATA
# title: pawl authorisation
# description: |
#   May this caller, acting as this operator, do this action on this object?
#   Asked for every request, and on record allow or deny. Default deny: an
#   action is allowed only when the operator's roles (data.authz.roles, from
#   operator id to roles) include one that data.authz.actions grants it, the
#   operator id is one the caller may act as, and no rule of separation of
#   duties objects.
package pawl.authz

decision := {
	"allow": allow,
	"deny": deny,
	"roles": roles,
}

default allow := false

# Positive match required: a role grants the action, and nothing objects.
allow if {
	granted
	count(deny) == 0
}

operator := object.get(input, "operator", {})

operator_id := object.get(operator, "id", "")

principal := object.get(input, "principal", {})

via := object.get(principal, "via", "")

facts := object.get(input, "facts", {})

action := object.get(input, "action", "")

# The caller may act as the operator id when it is enrolled and bound to
# the caller's account (or certificate), or, in local mode only, when it is
# not enrolled: a local pawl is one OS account, so an id that names nobody
# enrolled is a label in the trail, as `--operator` always was. Under a
# service every operator acts through an enrolment bound to them.
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
	not operator.enrolled
	via == "process"
}

# Roles count only for an operator the caller may act as.
roles := object.get(data.authz.roles, operator_id, []) if identified

else := []

# Which roles an action needs: for sign, by the meaning; otherwise
# data.authz.actions.
needed := object.get(data.authz.sign_meanings, object.get(facts, "meaning", ""), []) if action == "sign"

else := object.get(data.authz.actions, action, [])

granted if {
	some r in roles
	r in needed
}

# An operator may do the self-service actions (their own passphrase) on
# themself, with no role.
granted if {
	identified
	operator.enrolled
	action in object.get(data.authz, "self_service", [])
	input.object == concat(":", ["operator", operator_id])
}

deny contains msg if {
	operator.enrolled
	not identified
	msg := sprintf("authz.identity: operator %q is bound to %s; the request comes from %s: act as your own operator id", [operator_id, binding(operator), caller(principal)])
}

deny contains msg if {
	not operator.enrolled
	via != "process"
	msg := sprintf("authz.not_enrolled: operator %q is not enrolled; under a service every operator acts through an enrolment bound to them (%s)", [operator_id, how_to_enrol(operator_id)])
}

deny contains msg if {
	identified
	not granted
	count(needed) == 0
	not action in object.get(data.authz, "self_service", [])
	msg := sprintf("authz.unknown_action: no role may %q (it is not in data.authz.actions)", [action])
}

deny contains msg if {
	identified
	not granted
	count(needed) == 0
	action in object.get(data.authz, "self_service", [])
	msg := sprintf("authz.self_service: an enrolled operator may %q only on themself: operator %q (%s) asked it on %s", [action, operator_id, enrolment(operator), input.object])
}

# How an admin enrols the caller: by the certificate they came with, or by
# their account.
how_to_enrol(id) := sprintf("`pawl operator add %s --cert %s`", [id, principal.cert]) if object.get(principal, "cert", "") != ""

else := sprintf("`pawl operator add %s --uid %d`", [id, principal.uid])

enrolment(op) := "enrolled" if op.enrolled

else := "not enrolled"

deny contains msg if {
	identified
	not granted
	count(needed) > 0
	msg := sprintf("authz.role: %s needs one of the roles %v; operator %q has %v (data.authz.roles)", [what, sort(needed), operator_id, roles])
}

what := sprintf("sign %q", [object.get(facts, "meaning", "")]) if action == "sign"

else := action

# Separation of duties: nobody reviews or approves a batch they ran or
# resubmitted records into.
deny contains msg if {
	action == "sign"
	facts.meaning in data.authz.not_own_batch
	operator_id == facts.batch_run_by
	msg := sprintf("authz.own_batch: operator %q ran %s and may not sign it %q: another person must", [operator_id, input.object, facts.meaning])
}

deny contains msg if {
	action == "sign"
	facts.meaning in data.authz.not_own_batch
	operator_id in facts.resubmitted_by
	msg := sprintf("authz.own_batch: operator %q resubmitted records into %s and may not sign it %q: another person must", [operator_id, input.object, facts.meaning])
}

# One e-signature per meaning per person.
deny contains msg if {
	action == "sign"
	facts.meaning in facts.signed_meanings
	msg := sprintf("authz.signed_twice: operator %q has already signed %s %q: one signature per meaning per person", [operator_id, input.object, facts.meaning])
}

# The two-person rule: nobody approves a change they proposed, and one
# person approves a change once.
deny contains msg if {
	action == "change.approve"
	operator_id == facts.proposer
	msg := sprintf("authz.own_change: operator %q proposed %s and may not approve it: the two-person rule needs another person", [operator_id, input.object])
}

deny contains msg if {
	action == "change.approve"
	"approved" in object.get(facts, "signed_meanings", [])
	msg := sprintf("authz.signed_twice: operator %q has already approved %s: one approval per person", [operator_id, input.object])
}

# Enrolment needs a reason, and a printed name nobody enrolled has.
deny contains msg if {
	action == "operator.enrol"
	trim_space(object.get(input, "reason", "")) == ""
	msg := "authz.reason: enrolling an operator needs a reason (--reason TEXT)"
}

deny contains msg if {
	action == "operator.enrol"
	some n in facts.enrolled_names
	lower(n) == lower(facts.name)
	msg := sprintf("authz.name_taken: the printed name %q is already enrolled: a printed name names one person", [facts.name])
}

# A time outside the window needs a reason as well as the role.
deny contains msg if {
	action == "time.outside_window"
	trim_space(object.get(input, "reason", "")) == ""
	msg := sprintf("authz.reason: %s %s outside the window needs a reason", [object.get(facts, "flag", ""), object.get(facts, "given_time", "")])
}

# A state reset weakens the job's checks: it needs a reason.
deny contains msg if {
	action == "state.reset"
	trim_space(object.get(input, "reason", "")) == ""
	msg := sprintf("authz.reason: resetting the plugin state of %s needs a reason (--reason TEXT): a reset weakens the job's checks", [object.get(input, "object", "")])
}

deny contains "authz.input: input.time is missing" if object.get(input, "time", "") == ""

binding(op) := sprintf("uid %d", [op.uid]) if op.uid >= 0

else := sprintf("certificate %s", [op.cert]) if object.get(op, "cert", "") != ""

else := "no account (enrolled before operators were bound; re-enrol under a new id)"

caller(p) := sprintf("uid %d via %s", [p.uid, p.via]) if p.uid >= 0

else := sprintf("certificate %s via %s", [object.get(p, "cert", ""), p.via])
