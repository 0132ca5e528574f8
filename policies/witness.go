package policies

import (
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
)

// KindWitness is the decision to push a checkpoint of the trail to a
// witness (data.pawl.witness.decision). A witness is somewhere data goes:
// the checkpoint (the trail's origin, a size and a root) leaves the
// enclave, so the policy decides each push, and the decision is on record.
const KindWitness Kind = "witness"

// OptionalKinds are decided only by bundles that define them: the default
// bundle does not decide witness pushes, so a project without witnesses
// pushes nowhere, and a site that configures witnesses adds the module
// (policies/witness/pawl/witness.rego is the one pawl ships, with its
// tests) with data.egress.witnesses. A bundle without it denies every push
// ("no decision"), on record.
var OptionalKinds = []Kind{KindWitness, KindNetwork, KindDistribute}

// Witness is one of the bundle's witnesses (data.egress.witnesses[id]):
// where it listens and the key it cosigns with.
type Witness struct {
	ID   string
	URL  string // the submission prefix; add-checkpoint is POSTed to URL + "/add-checkpoint"
	VKey string // the witness's verifier key (name+hash+base64, cosignature/v1)
	// Network: the witness is the network's hub ({"network": true,
	// "vkey": …}, no url): it gets the trail's checkpoints by the site's
	// publications (kind network), not by pushes, and the site fetches
	// its cosignatures over the network link. At most one.
	Network bool
}

// WitnessTarget is the witness a push goes to.
type WitnessTarget struct {
	ID   string `json:"id"`
	URL  string `json:"url"`
	VKey string `json:"vkey"`
}

// WitnessCheckpoint is what leaves: the trail's checkpoint and the size
// the consistency proof starts from.
type WitnessCheckpoint struct {
	Origin  string `json:"origin"`
	Size    int64  `json:"size"`
	OldSize int64  `json:"old_size"`
}

// WitnessInput is the input of a witness decision.
type WitnessInput struct {
	Checkpoint WitnessCheckpoint `json:"checkpoint"`
	Principal  Principal         `json:"principal"`
	Time       string            `json:"time"`
	Via        string            `json:"via"` // "https", or "file" (written for an air gap)
	Witness    WitnessTarget     `json:"witness"`
}

// Witnesses are the bundle's witnesses (data.egress.witnesses), sorted by
// id; none when it names none.
func (e *Engine) Witnesses() []Witness {
	ws, _ := witnessesOf(e.bundle.data)
	return ws
}

// witnessesOf reads and checks data.egress.witnesses: an object keyed by
// id, each {"url": "https://…" or "http://…", "vkey": "…"}. Whether the
// vkey is a valid cosignature key is checked where it is used (package
// audit reads it); here its shape.
func witnessesOf(data map[string]any) ([]Witness, error) {
	eg, _ := data["egress"].(map[string]any)
	raw, ok := eg["witnesses"]
	if !ok {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("egress.witnesses must be an object keyed by witness id")
	}
	out := make([]Witness, 0, len(m))
	for id, v := range m {
		w, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("egress.witnesses[%q] must be an object with url and vkey", id)
		}
		if nw, ok := w["network"]; ok {
			if nw != true {
				return nil, fmt.Errorf("egress.witnesses[%q].network must be true (the network's hub), or absent", id)
			}
			if _, ok := w["url"]; ok {
				return nil, fmt.Errorf("egress.witnesses[%q]: the network's hub has no url: its cosignatures come over the network link (network.hub in pawl.yaml)", id)
			}
		} else {
			u, _ := w["url"].(string)
			pu, err := url.Parse(u)
			if u == "" || err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
				return nil, fmt.Errorf("egress.witnesses[%q].url must be an http or https URL, the witness's submission prefix", id)
			}
		}
		u, _ := w["url"].(string)
		vk, _ := w["vkey"].(string)
		if vk == "" {
			return nil, fmt.Errorf("egress.witnesses[%q].vkey must be the witness's verifier key (name+hash+base64)", id)
		}
		for k := range w {
			if k != "url" && k != "vkey" && k != "network" {
				return nil, fmt.Errorf("egress.witnesses[%q]: unknown member %q (want url and vkey, or network: true and vkey)", id, k)
			}
		}
		if w["network"] == true {
			for _, o := range out {
				if o.Network {
					return nil, fmt.Errorf("egress.witnesses: %q and %q are both the network's hub: a site has one hub", o.ID, id)
				}
			}
		}
		out = append(out, Witness{ID: id, URL: u, VKey: vk, Network: w["network"] == true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

//go:embed all:witness
var witnessModule embed.FS

// WitnessFS is the witness policy module pawl ships (policies/witness:
// pawl/witness.rego and its tests), to be copied into a bundle beside
// data.egress.witnesses.
func WitnessFS() fs.FS {
	sub, err := fs.Sub(witnessModule, "witness")
	if err != nil {
		panic(err)
	}
	return sub
}
