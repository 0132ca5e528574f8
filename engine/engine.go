package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/version"
	"github.com/pawl-dev/pawl/plugins"
)

// Open opens the project rooted at root with a resolved configuration:
// it takes the project lock (waiting for another pawl process that holds
// it, unless ctx is done) and finishes every batch a crash interrupted
// between its audit entry and its signature, and discards pending work
// that never reached the trail. Every command opens a project through it.
func Open(ctx context.Context, root string, cfg config.Config) (*project.Project, error) {
	p, err := project.Open(ctx, root, cfg)
	if err != nil {
		return nil, err
	}
	p.ContractCheck = ratchet.CheckContracts
	if err := ratchet.Recover(ctx, p); err != nil {
		p.Close()
		return nil, fmt.Errorf("recovering interrupted batches: %w", err)
	}
	return p, nil
}

// InitOptions are the choices made when a project is created.
type InitOptions struct {
	Operator string // default: the OS user
	Reason   string // default: "new project"
	// SinglePerson writes change.two_person: false into pawl.yaml before
	// the first pins: the one-person escape hatch of the two-person rule,
	// pinned (pawl.yaml#change) and so on record from the start.
	SinglePerson bool
	// Roles are the project's first role holders besides its creator
	// (operator id to roles), in force with its first pins: a project
	// under the two-person rule needs a second policy_admin before any
	// change of its bundle can be approved, and a grant made later is
	// itself such a change.
	Roles map[string][]string
}

// Init creates a project in dir (project.Scaffold), opens it with the
// default configuration and the given operator, records its creation,
// pins and approves the first-party validators the example job uses, and
// pins every file; only then does the project count as made (the init
// marker is removed). It refuses a directory that already holds a project;
// an init that was cut short (a crash, a full disk) is started over by
// running it again.
func Init(ctx context.Context, dir string, opt InitOptions) (*project.Project, error) {
	root, pub, err := project.Scaffold(dir)
	if err != nil {
		return nil, err
	}
	cfg := config.Defaults()
	if opt.Operator != "" {
		cfg.Operator = opt.Operator
	}
	if opt.SinglePerson {
		if err := project.SetSinglePerson(root); err != nil {
			return nil, err
		}
		cfg.ChangeTwoPerson = false
	}
	p, err := project.OpenNew(ctx, root, cfg)
	if err != nil {
		return nil, err
	}
	p.ContractCheck = ratchet.CheckContracts
	reason := opt.Reason
	if reason == "" {
		reason = "new project"
	}
	fail := func(err error) (*project.Project, error) {
		p.Close()
		return nil, err
	}
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: cfg.Operator, Object: "project", Reason: reason,
		Details: actions.ProjectInitDetails{EngineKey: pub, PawlVersion: version.Pawl()}}); err != nil {
		return fail(err)
	}
	if err := p.ReloadKeys(ctx); err != nil {
		return fail(err)
	}
	failpoint.Hit("init.after-record")
	why := "first-party validator shipped with pawl " + version.Pawl()
	var firstParty []gate.PluginApproval
	for _, m := range plugins.FirstParty() {
		man, d, _, err := p.AddPlugin(ctx, m.Wasm, cfg.Operator, why)
		if err != nil {
			return fail(fmt.Errorf("pinning the first-party plugin %s: %w", m.File, err))
		}
		firstParty = append(firstParty, gate.PluginApproval{Name: man.Name, Version: man.Version, Hash: d, Capabilities: project.PluginCapabilities(man)})
	}
	failpoint.Hit("init.after-plugins")
	// The default bundle approves no plugin; the first-party ones the
	// scaffolded job uses are approved here, in the project's own bundle.
	if err := gate.ApprovePlugins(ctx, p, firstParty, cfg.Operator, "first-party validators shipped with pawl "+version.Pawl()); err != nil {
		return fail(err)
	}
	failpoint.Hit("init.after-approval")
	// The first admin: whoever creates the project holds every role of the
	// default bundle, in force with the first pin below — the operator id
	// they named and the OS account's own name (the operator id of every
	// later command that names none). Nobody is enrolled; they enrol the
	// others (and themself, to sign) and give them their roles.
	creators := []string{cfg.Operator}
	if osUser := config.Defaults().Operator; osUser != cfg.Operator {
		creators = append(creators, osUser)
	}
	for _, c := range creators {
		if err := gate.GrantRoles(ctx, p, c, gate.AllRoles, cfg.Operator, "whoever created the project holds every role"); err != nil {
			return fail(err)
		}
	}
	ids := make([]string, 0, len(opt.Roles))
	for id := range opt.Roles {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if slices.Contains(creators, id) {
			return fail(fmt.Errorf("--role %s: the project's creator holds every role already", id))
		}
		if err := gate.GrantRoles(ctx, p, id, opt.Roles[id], cfg.Operator, "a first role holder named at the project's creation"); err != nil {
			return fail(err)
		}
	}
	if _, err := p.Pin(ctx, cfg.Operator, "pins of the scaffolded project"); err != nil {
		return fail(err)
	}
	failpoint.Hit("init.after-pin")
	// Only now is it a project: until the marker is gone, every command
	// refuses it, and `pawl init` run again starts it over.
	if err := project.FinishInit(root); err != nil {
		return fail(err)
	}
	return p, nil
}
