package policies

import (
	"embed"
	"fmt"
	"io/fs"
	"net/url"
)

// KindDistribute is the decision to send a batch's records to workers
// elsewhere (data.pawl.distribute.decision): a distributed run
// (distribute.nats) publishes every record, in the clear, to a NATS
// JetStream work queue that worker machines read. The records leave the
// committer's process, so the policy decides each batch and the decision
// is on record. The default bundle does not decide it (a bundle without
// the module denies: "no decision"); a site that runs workers adds the
// module pawl ships (policies/distribute/pawl/distribute.rego, with its
// tests) and data.egress.workers: the work queues it allows and the
// classifications each may carry.
const KindDistribute Kind = "distribute"

// DistributeInput is the input of a distribute decision.
type DistributeInput struct {
	// Workers is the work queue's server, as configured
	// (distribute.nats): nats://HOST:PORT or tls://HOST:PORT.
	Workers   string    `json:"workers"`
	Job       string    `json:"job"`
	Principal Principal `json:"principal"`
	Resource  Resource  `json:"resource"`
	Time      string    `json:"time"`
}

//go:embed all:distribute
var distributeModule embed.FS

// DistributeFS is the distribute policy module pawl ships
// (policies/distribute: pawl/distribute.rego and its tests), to be copied
// into a bundle beside data.egress.workers.
func DistributeFS() fs.FS {
	sub, err := fs.Sub(distributeModule, "distribute")
	if err != nil {
		panic(err)
	}
	return sub
}

// workersOf checks data.egress.workers: {id: {"url": "nats://…" or
// "tls://…", "classifications": [levels]}}.
func workersOf(data map[string]any) error {
	eg, _ := data["egress"].(map[string]any)
	raw, ok := eg["workers"]
	if !ok {
		return nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return fmt.Errorf(`egress.workers must be an object {id: {"url": URL, "classifications": [...]}}`)
	}
	for id, q := range m {
		qm, ok := q.(map[string]any)
		if !ok {
			return fmt.Errorf("egress.workers[%q] must be an object with url and classifications", id)
		}
		for k := range qm {
			if k != "url" && k != "classifications" {
				return fmt.Errorf("egress.workers[%q]: unknown member %q (want url, classifications)", id, k)
			}
		}
		s, _ := qm["url"].(string)
		u, err := url.Parse(s)
		if s == "" || err != nil || (u.Scheme != "tls" && u.Scheme != "nats") || u.Host == "" {
			return fmt.Errorf("egress.workers[%q].url must be the work queue's tls:// (or nats://) URL, as distribute.nats spells it, not %q", id, s)
		}
		cs, ok := qm["classifications"].([]any)
		if !ok {
			return fmt.Errorf("egress.workers[%q].classifications must be a list of classification levels", id)
		}
		for _, c := range cs {
			if _, ok := c.(string); !ok {
				return fmt.Errorf("egress.workers[%q].classifications: %v is not a classification level", id, c)
			}
		}
	}
	return nil
}
