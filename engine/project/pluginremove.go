package project

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/store"
)

// DevSuffix marks a development build of a plugin: a version ending in it
// ("1.3.0-dev") may be added again with other bytes, replacing its pin,
// and the default policy bundle refuses to run it unless the bundle marks
// the project as one for development (plugins.development in
// policies/data.json; docs/policy-guide.md).
const DevSuffix = "-dev"

// IsDevVersion reports whether a plugin version is a development build.
func IsDevVersion(v string) bool { return strings.HasSuffix(v, DevSuffix) }

// PluginUsers lists the job specs that use plugin id ("name@version"): those
// in the tree (jobs/*.yaml) and those pinned in pins (a pinned spec is what
// the next run reads, whatever the tree says). A spec that cannot be read
// is listed too, with why: it may use the plugin.
func (p *Project) PluginUsers(pins lockfile.Pins, id string) []string {
	users := map[string]bool{}
	uses := func(j *Job) bool {
		for _, v := range j.Validators {
			if v.Plugin == id {
				return true
			}
		}
		return false
	}
	names, _ := ListJobs(p.Root)
	for _, n := range names {
		j, err := LoadJob(p.Root, "jobs/"+n+".yaml")
		if err != nil {
			users[n+" (unreadable: "+err.Error()+")"] = true
		} else if uses(j) {
			users[n] = true
		}
	}
	for file, d := range pins {
		if !strings.HasPrefix(file, "jobs/") || !(strings.HasSuffix(file, ".yaml") || strings.HasSuffix(file, ".yml")) {
			continue
		}
		b, err := p.ReadBlob(d)
		if err != nil {
			users[file+" (pinned, unreadable: "+err.Error()+")"] = true
			continue
		}
		if j, err := ParseJob(file, b); err == nil && uses(j) {
			users[j.Name] = true
		}
	}
	out := []string{}
	for u := range users {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// RemovePlugin removes the pin of plugin id ("name@version") from pawl.lock
// when no job spec, in the tree or pinned, uses it, and records the
// removal (plugin.removed) before pawl.lock is written. The module stays
// in the store: the batches on record that ran it name it by hash, and
// replay, trace and export read it from there. A refusal (no reason, not
// pinned, still used) changes nothing and is on record
// (plugin.remove_refused). Removing does not revoke an approval: the
// bundle's plugins.approved is changed by `pawl policy revoke-plugin`.
func (p *Project) RemovePlugin(ctx context.Context, id, operator, reason string) (store.Digest, error) {
	var pinned store.Digest
	refuse := func(jobs []string, cause error) (store.Digest, error) {
		if jobs == nil {
			jobs = []string{}
		}
		why := reason
		if strings.TrimSpace(why) == "" {
			why = "plugin remove refused"
		}
		if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "plugin:" + id, Reason: why,
			Details: actions.PluginRemoveRefusedDetails{Plugin: id, Hash: pinned, Jobs: jobs, Error: cause.Error()}}); err != nil {
			return "", fmt.Errorf("%w; refused, nothing changed, but the refusal could not be put on record: %v", cause, err)
		}
		return "", fmt.Errorf("%w; refused: nothing changed (on record as %s)", cause, actions.PluginRemoveRefused)
	}
	st, err := p.readLock(ctx)
	if err != nil {
		return "", err
	}
	if st.problem != nil && !st.problem.Behind {
		return "", st.problem
	}
	pins := st.found
	key := lockfile.PluginKey(id)
	pinned = pins[key]
	if strings.TrimSpace(reason) == "" {
		return refuse(nil, fmt.Errorf("removing plugin %s needs a reason: pass --reason \"why it goes\"", id))
	}
	if pinned == "" {
		var ids []string
		for k := range pins {
			if strings.HasPrefix(k, lockfile.PluginPrefix) {
				ids = append(ids, strings.TrimPrefix(k, lockfile.PluginPrefix))
			}
		}
		sort.Strings(ids)
		known := "no plugins are pinned"
		if len(ids) > 0 {
			known = "pinned: " + strings.Join(ids, ", ")
		}
		return refuse(nil, fmt.Errorf("plugin %s is not pinned (%s)", id, known))
	}
	if users := p.PluginUsers(pins, id); len(users) > 0 {
		return refuse(users, fmt.Errorf("plugin %s is used by job %s: take it out of the job's validators and run `pawl pin` first", id, strings.Join(users, ", ")))
	}
	delete(pins, key)
	if err := p.storePins(pins); err != nil {
		return "", err
	}
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "plugin:" + id, Reason: reason,
		Details: actions.PluginRemovedDetails{Plugin: id, Hash: pinned, PinsDigest: pins.Digest()}}); err != nil {
		return "", err
	}
	failpoint.Hit("plugin-remove.after-record")
	if err := durable.WriteFile(p.LockPath(), pins.Format(), 0o644); err != nil {
		return "", fmt.Errorf("the removal of %s is on record but %s could not be written: %w: run `pawl plugin remove` again", id, LockFile, err)
	}
	return pinned, nil
}
