# METADATA
# title: pawl egress
# description: |
#   Which batch may leave for which destination. Default deny: a batch leaves
#   only when it is committed, its URL (canonicalized by pawl) falls under a
#   whitelisted prefix, the most specific matching destination accepts its
#   classification (and purpose, when the destination lists purposes), and,
#   when the destination requires approval, the batch carries an "approved"
#   e-signature. A notice (input.kind "notice": a quarantine report sent to
#   the source a file came from) goes by the same whitelist; it may report a
#   failed batch too, and carries the quarantined records' bytes only when
#   it asks for them and every permitted destination has notice_records.
#   A batch's OpenLineage events (input.kind "lineage": counts, rule names,
#   the schema's field names, never record bytes) go by the same whitelist
#   whatever the batch's state: a lineage service hears of failures too.
package pawl.egress

# The decision pawl records: allow needs a positive match, deny holds every
# reason. "prefix" and "destinations" tell the exporter which whitelist entry
# allowed the export.
decision := {
	"allow": allow,
	"deny": deny,
	"prefix": best_prefix,
	"destinations": permitted,
	"notice_records": notice_records,
}

default allow := false

# Positive match required: an allow never follows from the mere absence of
# deny reasons (a deny rule that failed to evaluate must not open the door).
allow if {
	deliverable
	count(permitted) > 0
	count(deny) == 0
}

committed if input.resource.state == "committed"

is_notice if input.kind == "notice"

is_lineage if input.kind == "lineage"

# A batch leaves only when committed; a notice may also report a failure.
deliverable if committed

deliverable if {
	is_notice
	input.resource.state == "failed"
}

deliverable if is_lineage

# Record bytes go in a notice only when it asks for them and every
# destination that permits it says notice_records: true. Never by default.
default notice_records := false

notice_records if {
	is_notice
	input.records == true
	count(permitted) > 0
	every id in permitted {
		data.egress.destinations[id].notice_records == true
	}
}

# The whitelist index (data.pawl_derived.egress.by_prefix, derived by pawl
# from data.egress.destinations when the bundle loads) maps each canonical
# prefix to the ids that use it. input.destination.candidates are the
# prefixes of the canonical URL, shortest first (computed by pawl): one object
# lookup per candidate, never a scan of the whitelist.
#
# The most specific (longest, so last) matching prefix decides: a narrow
# entry that requires approval is not bypassed by a broad one that does not.
best_index := max({i |
	some i, p in input.destination.candidates
	data.pawl_derived.egress.by_prefix[p]
})

default best_prefix := ""

best_prefix := input.destination.candidates[best_index]

best_ids contains id if some id in data.pawl_derived.egress.by_prefix[best_prefix]

permitted contains id if {
	some id in best_ids
	d := data.egress.destinations[id]
	input.resource.classification in d.classifications
	purpose_accepted(d)
	approval_satisfied[object.get(d, "requires_approval", false)]
}

# A destination without "purposes" accepts any purpose.
purpose_accepted(d) if input.purpose in object.get(d, "purposes", [input.purpose])

# approval_satisfied[requires_approval]: false needs nothing, true needs an
# approval; any other value (pawl refuses such a bundle) is never satisfied.
approval_satisfied[false] := true

approval_satisfied[true] := true if approved

# An approval counts only when it is an "approved" e-signature bound to this
# batch. pawl verifies the signatures cryptographically before it asks.
approved if {
	some sig in input.resource.signatures
	sig.meaning == "approved"
	sig.batch_id == input.resource.batch_id
}

batch_id := object.get(input, ["resource", "batch_id"], "")

deny contains msg if {
	not deliverable
	msg := sprintf("egress.not_committed: batch %q is in state %q; only committed batches may leave", [batch_id, object.get(input, ["resource", "state"], "")])
}

deny contains msg if {
	refused := input.destination.refused
	refused != ""
	msg := sprintf("egress.url_refused: %s", [refused])
}

deny contains msg if {
	best_prefix == ""
	not input.destination.refused
	msg := sprintf("egress.not_whitelisted: no whitelisted destination prefix matches %q", [object.get(input, ["destination", "canonical"], "")])
}

deny contains msg if {
	count(permitted) == 0
	some id in best_ids
	d := data.egress.destinations[id]
	not input.resource.classification in d.classifications
	msg := sprintf("egress.classification: destination %q (%s) does not accept classification %q (it accepts %v)", [id, d.url, object.get(input, ["resource", "classification"], ""), object.get(d, "classifications", [])])
}

deny contains msg if {
	count(permitted) == 0
	some id in best_ids
	d := data.egress.destinations[id]
	not purpose_accepted(d)
	msg := sprintf("egress.purpose: destination %q (%s) does not accept purpose %q (it accepts %v)", [id, d.url, object.get(input, "purpose", ""), d.purposes])
}

deny contains msg if {
	count(permitted) == 0
	some id in best_ids
	not approval_satisfied[object.get(data.egress.destinations[id], "requires_approval", false)]
	msg := sprintf("egress.approval_required: destination %q requires an \"approved\" e-signature on batch %q; none found", [id, batch_id])
}

deny contains "egress.input: input.principal.id is missing" if object.get(input, ["principal", "id"], "") == ""

deny contains "egress.input: input.time is missing" if object.get(input, "time", "") == ""
