package pawl.witness_test

import data.pawl.witness

witnesses := {"w1": {"url": "https://witness.example/w1", "vkey": "witness.example/w1+01234567+BAAA"}}

push := {
	"time": "2026-11-24T10:00:00Z",
	"principal": {"id": "pawl-engine"},
	"via": "https",
	"witness": {"id": "w1", "url": "https://witness.example/w1", "vkey": "witness.example/w1+01234567+BAAA"},
	"checkpoint": {"origin": "pawl.dev/audit/x", "size": 9, "old_size": 4},
}

test_listed_witness_allowed if {
	d := witness.decision with input as push with data.egress.witnesses as witnesses
	d.allow
	count(d.deny) == 0
}

test_unknown_witness_denied if {
	d := witness.decision with input as object.union(push, {"witness": {"id": "w2", "url": "https://witness.example/w1", "vkey": "x"}}) with data.egress.witnesses as witnesses
	not d.allow
	some msg in d.deny
	startswith(msg, "witness.unknown:")
}

test_other_url_denied if {
	d := witness.decision with input as object.union(push, {"witness": {"id": "w1", "url": "https://evil.example/", "vkey": "witness.example/w1+01234567+BAAA"}}) with data.egress.witnesses as witnesses
	not d.allow
	some msg in d.deny
	startswith(msg, "witness.url:")
}

test_other_key_denied if {
	d := witness.decision with input as object.union(push, {"witness": {"id": "w1", "url": "https://witness.example/w1", "vkey": "other+01234567+BAAA"}}) with data.egress.witnesses as witnesses
	not d.allow
	some msg in d.deny
	startswith(msg, "witness.key:")
}

test_file_allowed_other_via_denied if {
	witness.decision.allow with input as object.union(push, {"via": "file"}) with data.egress.witnesses as witnesses
	d := witness.decision with input as object.union(push, {"via": "ftp"}) with data.egress.witnesses as witnesses
	not d.allow
}

test_no_witnesses_denied if {
	d := witness.decision with input as push with data.egress.witnesses as {}
	not d.allow
}
