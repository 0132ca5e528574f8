// Package registry is the "registry" validator: a field's value must be
// listed in a pinned lookup file (seed: a device_id must be in the device
// registry).
//
// Fields: id (string, /device_id). Lookups: "registry", a UTF-8 text file
// of ids, one per line; surrounding spaces and a CR before the LF are
// ignored, as are blank lines and lines starting with '#'. Config (optional):
// {"case_insensitive": false}. An empty registry is refused at init: it
// would reject everything, which is more likely a wrong pin than a wish.
// An absent id passes (presence is the schema's job).
package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/plugins/pdk"
)

const colID = 0

// Config is the plugin's config.
type Config struct {
	CaseInsensitive bool `json:"case_insensitive"`
}

// Plugin is the registry validator.
type Plugin struct {
	fold bool
	ids  map[string]struct{}
}

// New returns the validator; Init loads the registry.
func New() *Plugin { return &Plugin{} }

// Init reads the config and the registry file.
func (p *Plugin) Init(in pdk.Init) error {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(in.Config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("registry config: %v", err)
	}
	data, ok := in.Lookups["registry"]
	if !ok {
		return fmt.Errorf("registry: no lookup file named \"registry\"")
	}
	ids, err := Parse(data, cfg.CaseInsensitive)
	if err != nil {
		return err
	}
	p.fold, p.ids = cfg.CaseInsensitive, ids
	return nil
}

// Parse reads a registry file into a set.
func Parse(data []byte, fold bool) (map[string]struct{}, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("registry: the lookup file is not valid UTF-8")
	}
	ids := map[string]struct{}{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if fold {
			line = strings.ToLower(line)
		}
		if _, dup := ids[line]; dup {
			return nil, fmt.Errorf("registry: line %d: id %q listed twice", n+1, line)
		}
		ids[line] = struct{}{}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("registry: the lookup file lists no ids")
	}
	return ids, nil
}

// Validate checks each present id against the registry.
func (p *Plugin) Validate(b *pdk.Batch, r *pdk.Result) {
	col := b.Strings(colID)
	for i := 0; i < b.N; i++ {
		id, ok := col.Get(i)
		if !ok {
			continue
		}
		key := id
		if p.fold {
			key = strings.ToLower(id)
		}
		if _, ok := p.ids[key]; !ok {
			r.Reject(i, colID, "registry.unknown", pdk.QuoteValue(id)+" is not in the registry")
		}
	}
}
