package pawl.network_test

import data.pawl.network

hub := {"hub": "tls://hub.example:7422"}

publish := {
	"time": "2026-12-02T10:00:00Z",
	"principal": {"id": "pawl-engine"},
	"hub": "tls://hub.example:7422",
	"site": "lyon",
	"message": {"kind": "checkpoint", "origin": "pawl.dev/audit/x", "size": 9, "old_size": 4},
}

test_checkpoint_to_the_hub_allowed if {
	d := network.decision with input as publish with data.egress.network as hub
	d.allow
	count(d.deny) == 0
}

test_batch_signature_allowed if {
	d := network.decision with input as object.union(publish, {"message": {"kind": "batch", "batch": "b1"}}) with data.egress.network as hub
	d.allow
}

test_key_history_allowed if {
	d := network.decision with input as object.union(publish, {"message": {"kind": "key", "key": "ed25519:0123456789abcdef"}}) with data.egress.network as hub
	d.allow
}

test_records_denied if {
	d := network.decision with input as object.union(publish, {"message": {"kind": "records"}}) with data.egress.network as hub
	not d.allow
	some msg in d.deny
	startswith(msg, "network.kind:")
}

test_other_hub_denied if {
	d := network.decision with input as object.union(publish, {"hub": "tls://evil.example:7422"}) with data.egress.network as hub
	not d.allow
	some msg in d.deny
	startswith(msg, "network.hub:")
}

test_no_hub_denied if {
	d := network.decision with input as publish with data.egress.network as {}
	not d.allow
	some msg in d.deny
	startswith(msg, "network.hub:")
}

test_no_site_denied if {
	d := network.decision with input as object.union(publish, {"site": ""}) with data.egress.network as hub
	not d.allow
	some msg in d.deny
	msg == "network.input: input.site is missing"
}
