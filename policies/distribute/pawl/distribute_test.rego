package pawl.distribute_test

import data.pawl.distribute

queues := {"site": {"url": "tls://nats.site:4222", "classifications": ["internal", "confidential"]}}

req(url, class) := {
	"workers": url,
	"job": "sensor-feed",
	"principal": {"id": "alice"},
	"resource": {"batch_id": "b1", "classification": class, "state": "pending", "signatures": []},
	"time": "2026-12-02T10:00:00Z",
}

test_allowed_queue_and_classification if {
	d := distribute.decision with input as req("tls://nats.site:4222", "internal") with data.egress.workers as queues
	d.allow
	d.queues == {"site"}
}

test_other_queue_denied if {
	d := distribute.decision with input as req("nats://elsewhere:4222", "internal") with data.egress.workers as queues
	not d.allow
	some msg in d.deny
	startswith(msg, "distribute.not_allowed:")
}

test_classification_denied if {
	d := distribute.decision with input as req("tls://nats.site:4222", "phi") with data.egress.workers as queues
	not d.allow
	some msg in d.deny
	startswith(msg, "distribute.classification:")
}

test_no_queues_denied if {
	d := distribute.decision with input as req("tls://nats.site:4222", "internal") with data.egress.workers as {}
	not d.allow
}
