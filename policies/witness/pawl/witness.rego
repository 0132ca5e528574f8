# METADATA
# title: pawl witness
# description: |
#   Which witness a checkpoint of the audit trail may be pushed to (C2SP
#   tlog-witness). A checkpoint is the trail's origin, a size and a root: it
#   says nothing of the data, but it leaves the enclave, so a push is an
#   egress decision of its own kind, on record like every other. Default
#   deny: a push is allowed only to a witness of data.egress.witnesses, at
#   the URL and with the key the bundle names, by https or by a file carried
#   across an air gap.
package pawl.witness

decision := {
	"allow": allow,
	"deny": deny,
}

default allow := false

allow if {
	data.egress.witnesses[input.witness.id]
	count(deny) == 0
}

witness_id := object.get(input, ["witness", "id"], "")

deny contains msg if {
	not data.egress.witnesses[witness_id]
	msg := sprintf("witness.unknown: %q is not a witness of data.egress.witnesses", [witness_id])
}

deny contains msg if {
	w := data.egress.witnesses[witness_id]
	w.url != input.witness.url
	msg := sprintf("witness.url: witness %q listens at %q, not %q", [witness_id, w.url, input.witness.url])
}

deny contains msg if {
	w := data.egress.witnesses[witness_id]
	w.vkey != input.witness.vkey
	msg := sprintf("witness.key: witness %q cosigns with %q, not %q", [witness_id, w.vkey, input.witness.vkey])
}

deny contains msg if {
	not input.via in {"https", "file"}
	msg := sprintf("witness.via: a checkpoint leaves by https or by a file, not %q", [object.get(input, "via", "")])
}

deny contains "witness.input: input.principal.id is missing" if object.get(input, ["principal", "id"], "") == ""
