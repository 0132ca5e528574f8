# METADATA
# title: pawl distribute
# description: |
#   Which batches' records may go to workers (pawl worker) through a NATS
#   JetStream work queue. The records travel in the clear to the worker
#   machines, so default deny: a batch is distributed only to a queue
#   data.egress.workers names (its "url", exactly as distribute.nats
#   spells it) whose "classifications" include the job's.
#
#   data.egress.workers: {"site-queue": {"url": "tls://nats.site:4222",
#   "classifications": ["internal", "confidential"]}}
package pawl.distribute

decision := {
	"allow": allow,
	"deny": deny,
	"queues": permitted,
}

default allow := false

default queues := {}

queues := data.egress.workers

# Positive match required.
allow if {
	count(permitted) > 0
	count(deny) == 0
}

permitted contains id if {
	some id, q in queues
	q.url == input.workers
	input.resource.classification in q.classifications
}

deny contains msg if {
	count(permitted) == 0
	not named
	msg := sprintf("distribute.not_allowed: no work queue in data.egress.workers has url %q", [object.get(input, "workers", "")])
}

named if {
	some q in queues
	q.url == input.workers
}

deny contains msg if {
	count(permitted) == 0
	some id, q in queues
	q.url == input.workers
	not input.resource.classification in q.classifications
	msg := sprintf("distribute.classification: work queue %q (%s) does not take classification %q (it takes %v)", [id, q.url, object.get(input, ["resource", "classification"], ""), object.get(q, "classifications", [])])
}

deny contains "distribute.input: input.principal.id is missing" if object.get(input, ["principal", "id"], "") == ""

deny contains "distribute.input: input.resource.batch_id is missing" if object.get(input, ["resource", "batch_id"], "") == ""
