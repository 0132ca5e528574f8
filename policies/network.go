package policies

import (
	"embed"
	"fmt"
	"io/fs"
	"net/url"
)

// KindNetwork is the decision to publish a message about the trail to the
// network's hub (data.pawl.network.decision): a checkpoint and its
// consistency proof, a batch's signature, or the engine key history after
// a rotation. The hub is somewhere data goes, so every publication is
// decided and on record; the module pawl ships (policies/network) allows
// these three to the hub the bundle names, and nothing else.
const KindNetwork Kind = "network"

// NetworkHub is the bundle's hub (data.egress.network.hub): the URL a
// site's messages go to.
func (e *Engine) NetworkHub() string {
	h, _ := networkHubOf(e.bundle.data)
	return h
}

// NetworkMessage is what a publication carries.
type NetworkMessage struct {
	Kind    string `json:"kind"` // "checkpoint", "batch" or "key"
	Origin  string `json:"origin"`
	Size    int64  `json:"size"`     // the checkpoint's size
	OldSize int64  `json:"old_size"` // where its consistency proof starts
	Batch   string `json:"batch,omitempty"`
	// Key is the engine key in force at the end of the key history
	// published (kind key), its key id.
	Key string `json:"key,omitempty"`
}

// NetworkInput is the input of a network decision.
type NetworkInput struct {
	Hub       string         `json:"hub"`  // the URL it is published to
	Site      string         `json:"site"` // the site's id in the network
	Message   NetworkMessage `json:"message"`
	Principal Principal      `json:"principal"`
	Time      string         `json:"time"`
}

// networkHubOf reads and checks data.egress.network: {"hub": "tls://…" or
// "nats://…"}.
func networkHubOf(data map[string]any) (string, error) {
	eg, _ := data["egress"].(map[string]any)
	raw, ok := eg["network"]
	if !ok {
		return "", nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return "", fmt.Errorf(`egress.network must be an object {"hub": URL}`)
	}
	for k := range m {
		if k != "hub" {
			return "", fmt.Errorf("egress.network: unknown member %q (want hub)", k)
		}
	}
	h, _ := m["hub"].(string)
	u, err := url.Parse(h)
	if h == "" || err != nil || (u.Scheme != "tls" && u.Scheme != "nats") || u.Host == "" {
		return "", fmt.Errorf("egress.network.hub must be the hub's tls:// (or nats://) URL, not %q", h)
	}
	return h, nil
}

//go:embed all:network
var networkModule embed.FS

// NetworkFS is the network policy module pawl ships (policies/network:
// pawl/network.rego and its tests), to be copied into a bundle beside
// data.egress.network.
func NetworkFS() fs.FS {
	sub, err := fs.Sub(networkModule, "network")
	if err != nil {
		panic(err)
	}
	return sub
}
