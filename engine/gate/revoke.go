package gate

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
)

// RevokePlugin takes every hash approved as plugin id ("name@version") off
// plugins.approved in the project's policies/data.json — the inverse of
// ApprovePinned — and records each revocation (policy.plugin_revoked)
// before data.json is written. The bundle changes, so the revocation is in
// force once pinned (`pawl pin`, a change under the two-person rule); a
// batch planned after it is refused by the plugins policy. A refusal (no
// reason, nothing approved as id, a signed bundle, a data.json that is not
// an object) changes nothing and is on record
// (policy.plugin_revoke_refused). The plugin's pin is untouched: `pawl
// plugin remove` removes it.
func RevokePlugin(ctx context.Context, p *project.Project, id, operator, reason string) ([]PluginApproval, error) {
	refuse := func(cause error) ([]PluginApproval, error) {
		why := reason
		if strings.TrimSpace(why) == "" {
			why = "plugin revocation refused"
		}
		if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "plugin:" + id, Reason: why,
			Details: actions.PluginRevokeRefusedDetails{Plugin: id, Error: cause.Error()}}); err != nil {
			return nil, fmt.Errorf("%w; refused, nothing changed, but the refusal could not be put on record: %v", cause, err)
		}
		return nil, fmt.Errorf("%w; refused: the bundle is unchanged (on record as %s)", cause, actions.PluginRevokeRefused)
	}
	if strings.TrimSpace(reason) == "" {
		return refuse(fmt.Errorf("revoking plugin %s needs a reason: pass --reason \"why it may no longer run\"", id))
	}
	name, version, ok := strings.Cut(id, "@")
	if !ok || name == "" || version == "" {
		return refuse(fmt.Errorf("%q is not NAME@VERSION (`pawl plugin list` shows the pinned ones)", id))
	}
	path, data, err := readPolicyData(p, "revoking", "remove the hash from plugins.approved in "+project.PolicyDir+"/data.json", "revoke")
	if err != nil {
		return refuse(err)
	}
	plug, _ := data["plugins"].(map[string]any)
	approved, _ := plug["approved"].(map[string]any)
	var out []PluginApproval
	var others []string
	for h, v := range approved {
		e, _ := v.(map[string]any)
		n, _ := e["name"].(string)
		ver, _ := e["version"].(string)
		if n != name || ver != version {
			others = append(others, n+"@"+ver)
			continue
		}
		caps := []string{}
		if cs, ok := e["capabilities"].([]any); ok {
			for _, c := range cs {
				if s, ok := c.(string); ok {
					caps = append(caps, s)
				}
			}
		}
		out = append(out, PluginApproval{Name: name, Version: version, Hash: store.Digest(h), Capabilities: caps})
	}
	if len(out) == 0 {
		sort.Strings(others)
		known := "nothing is approved"
		if len(others) > 0 {
			known = "approved: " + strings.Join(others, ", ")
		}
		return refuse(fmt.Errorf("plugin %s is not approved in %s/data.json (%s)", id, project.PolicyDir, known))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hash < out[j].Hash })
	for _, a := range out {
		delete(approved, string(a.Hash))
	}
	enc, err := encodePolicyData(data)
	if err != nil {
		return nil, err
	}
	// On record first, as approvals are.
	for _, a := range out {
		if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "plugin:" + id, Reason: reason,
			Details: actions.PluginRevokedDetails{Plugin: id, Hash: a.Hash, Capabilities: a.Capabilities, File: project.PolicyDir + "/data.json"}}); err != nil {
			return nil, err
		}
	}
	failpoint.Hit("revoke.after-record")
	if err := durable.WriteFile(path, enc, 0o644); err != nil {
		return nil, fmt.Errorf("the revocation is on record but %s/data.json could not be written: %w: revoke again", project.PolicyDir, err)
	}
	return out, nil
}
