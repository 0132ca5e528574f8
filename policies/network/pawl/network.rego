# METADATA
# title: pawl network
# description: |
#   What a site may publish to the network's hub (NATS JetStream). Only
#   proof of what happened travels: a checkpoint of the audit trail (origin,
#   size, root) with its consistency proof, a batch's signature, and the
#   engine key history after a rotation (public keys and their signatures);
#   never records. Default deny: a publication is allowed only to the hub
#   data.egress.network.hub names.
package pawl.network

decision := {
	"allow": allow,
	"deny": deny,
}

default allow := false

allow if {
	data.egress.network.hub
	count(deny) == 0
}

kinds := {"checkpoint", "batch", "key"}

deny contains msg if {
	not data.egress.network.hub
	msg := "network.hub: the bundle names no hub (data.egress.network.hub)"
}

deny contains msg if {
	hub := data.egress.network.hub
	hub != input.hub
	msg := sprintf("network.hub: the hub is %q, not %q", [hub, input.hub])
}

deny contains msg if {
	not input.message.kind in kinds
	msg := sprintf("network.kind: only checkpoints, batch signatures and the key history go to the hub, not %q", [object.get(input, ["message", "kind"], "")])
}

deny contains "network.input: input.site is missing" if object.get(input, "site", "") == ""

deny contains "network.input: input.principal.id is missing" if object.get(input, ["principal", "id"], "") == ""
