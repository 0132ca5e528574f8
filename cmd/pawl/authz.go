package main

import (
	"fmt"
	"strings"

	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/spf13/cobra"
)

// authzRule is what a command asks the authz policy before it acts: the
// action (a stable verb the bundle's data.authz.actions grants to roles)
// and the object, from the command's arguments. Every command is in
// authzRules; a.open asks the question for it, once, before the command
// does anything, so that no command can forget. TestEveryCommandIsAuthorized
// walks the command tree.
type authzRule struct {
	action string
	object func(args []string) string
	// self: the operator acting is the one the first argument names
	// (operator passwd ID), not the configured one.
	self bool
	// engine: the engine asks, with facts only it has (the e-signatures
	// and who ran a batch, the printed names enrolled): a.open asks
	// nothing, the command's engine call does.
	engine string
	// none: why the command asks nothing: it acts on no project (it
	// creates one, or reads only files and public keys given to it).
	none string
	// read: the command changes nothing (gate.AuthzRequest.ReadOnly).
	read bool
	// flagObject: the object when the named flag is set, in place of
	// object's (audit prove --consistency proves the trail, not a batch).
	flagObject map[string]string
}

func arg(prefix string) func([]string) string {
	return func(a []string) string {
		if len(a) == 0 {
			return prefix
		}
		return prefix + ":" + a[0]
	}
}

func fixed(s string) func([]string) string { return func([]string) string { return s } }

// authzRules maps each command (its path without "pawl ") to its question.
var authzRules = map[string]authzRule{
	"audit checkpoint":      {action: "audit.checkpoint", object: fixed("trail")},
	"audit export":          {action: "audit.export", object: fixed("trail")},
	"inspect":               {action: "audit.export", object: fixed("trail")},
	"validate":              {action: "audit.checkpoint", object: fixed("validation")},
	"audit witness push":    {action: "audit.checkpoint", object: fixed("witness")},
	"audit key":             {action: "key.read", object: fixed("engine-key"), read: true},
	"audit log":             {action: "audit.read", object: fixed("trail"), read: true},
	"audit prove":           {action: "audit.prove", object: arg("batch"), read: true, flagObject: map[string]string{"consistency": "trail"}},
	"audit replay":          {action: "replay", object: arg("batch")},
	"audit trace":           {action: "audit.read", object: arg("batch"), read: true},
	"audit review":          {engine: gate.ActionReviewTrail},
	"audit reviews":         {action: "audit.read", object: fixed("reviews"), read: true},
	"audit verify":          {none: "it checks the trail with public keys only, and must run on a trail whatever was done to it (its pins, and so the bundle in force, included)"},
	"audit migrate":         {none: "it upgrades the trail's schema, which no other command writes to until it is done (a decision could not be recorded in it); each step is on record (trail.migrated), and it needs write access to the data directory (under a service, the service's account alone has it)"},
	"batches list":          {action: "batches.read", object: fixed("batches"), read: true},
	"change apply":          {action: "change.apply", object: arg("change")},
	"change approve":        {engine: gate.ActionApproveChange},
	"change list":           {action: "change.read", object: fixed("changes"), read: true},
	"change show":           {action: "change.read", object: arg("change"), read: true},
	"contract diff":         {action: "contract.read", object: arg("job"), read: true},
	"contract log":          {action: "contract.read", object: arg("job"), read: true},
	"key history":           {action: "key.read", object: fixed("engine-key"), read: true},
	"key rotate":            {engine: gate.ActionKeyRotate},
	"serve":                 {none: "it asks nothing itself: every command it runs for a client is authorised as that client (the socket's peer, principal.From)"},
	"batches show":          {action: "batches.read", object: arg("batch"), read: true},
	"export":                {action: "export", object: arg("batch")},
	"operator add":          {engine: gate.ActionEnrol},
	"operator grant":        {action: "operator.grant", object: arg("operator")},
	"operator list":         {action: "operator.read", object: fixed("operators"), read: true},
	"operator show":         {action: "operator.read", object: arg("operator"), read: true},
	"operator passwd":       {action: "operator.passwd", object: arg("operator"), self: true},
	"operator revoke":       {engine: gate.ActionRevoke},
	"operator unlock":       {engine: gate.ActionUnlock},
	"pin":                   {action: "pin", object: fixed("file:" + "pawl.lock")},
	"plugin add":            {action: "plugin.add", object: arg("file")},
	"plugin list":           {action: "plugin.read", object: fixed("plugins"), read: true},
	"plugin verify":         {action: "plugin.read", object: fixed("plugins"), read: true},
	"plugin remove":         {action: "plugin.remove", object: arg("plugin")},
	"policy revoke-plugin":  {action: "policy.revoke_plugin", object: arg("plugin")},
	"job check":             {action: "plugin.read", object: arg("job"), read: true},
	"policy approve-plugin": {action: "policy.approve_plugin", object: func(a []string) string { return "plugin:" + strings.Join(a, ",") }},
	"quarantine list":       {action: "quarantine.read", object: arg("batch"), read: true},
	"quarantine resubmit":   {action: "resubmit", object: arg("batch")},
	"quarantine show":       {action: "quarantine.read", object: arg("batch"), read: true},
	"run":                   {action: "run", object: arg("job")},
	"watch":                 {action: "run", object: fixed("sources")},
	"sign":                  {engine: gate.ActionSign},
	"state reset":           {action: "state.reset", object: arg("job")},
	"state show":            {action: "state.read", object: arg("job"), read: true},
	"session show":          {action: "audit.read", object: fixed("session"), read: true},
	"session end":           {none: "it ends the caller's own signing session and nobody else's (the session of the account principal.From names): it takes a power away and grants none, and the end is on record (esign.session_ended); a signer whose roles were taken away must still be able to end it"},
	"init":                  {none: "it creates a project; whoever creates it holds every role in it (its first admin)"},
	"demo":                  {none: "it creates a project of its own in a new directory"},
	"explain":               {none: "it reads only the string given"},
	"version":               {none: "it reads nothing"},
	"sbom":                  {none: "it reads nothing of a project: this binary's build info and embedded plugins"},
	"plugin new":            {none: "it writes a plugin skeleton into a new directory of the caller's"},
	"plugin build":          {none: "it compiles the caller's plugin directory with the caller's toolchain; nothing of a project"},
	"plugin test":           {none: "it runs a module over a case file in a sandbox of its own; nothing of a project"},
	"network hub":           {none: "it acts on no project: the hub's own directory and the sites' messages, admitted by their nkeys"},
	"network status":        {none: "it acts on no project: it reads the hub's state"},
	"network credentials":   {none: "it acts on no project: it writes a new nkey seed to the file given"},
	"network site":          {action: "audit.read", object: fixed("trail"), read: true},
	"worker":                {none: "it acts on no project: it runs chunks from the work queue, admitted by the NATS server's credentials; what it sends back the committer checks"},
	"audit verify-proof":    {none: "it checks a proof file against public keys"},
	"verify-signature":      {none: "it checks a signature file against public keys"},
	"policy eval":           {none: "it evaluates a bundle directory given to it"},
	"policy keygen":         {none: "it writes a new key pair"},
	"policy sign":           {none: "it signs a bundle directory; a bundle is in force only once pinned (pin is authorised)"},
	"policy test":           {none: "it runs a bundle directory's tests"},
	"policy verify":         {none: "it checks a bundle directory's signature"},
}

// commandName is a command's path without the root's name.
func commandName(c *cobra.Command) string {
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}

// authorize asks the authz question of command c on the open project p,
// as a.open does for every command. A command without a rule is refused:
// a command added without one cannot act.
func authorize(c *cobra.Command, p *project.Project) error {
	name := commandName(c)
	r, ok := authzRules[name]
	switch {
	case !ok:
		return fmt.Errorf("pawl %s has no authorisation rule (cmd/pawl/authz.go): refused", name)
	case r.engine != "" || r.none != "":
		return nil
	}
	args := c.Flags().Args()
	op := p.Cfg.Operator
	if r.self && len(args) > 0 {
		op = args[0]
	}
	reason := ""
	if f := c.Flags().Lookup("reason"); f != nil {
		reason = f.Value.String()
	}
	object := r.object(args)
	for flag, o := range r.flagObject {
		if f := c.Flags().Lookup(flag); f != nil && f.Changed {
			object = o
		}
	}
	return gate.Authorize(c.Context(), p, gate.AuthzRequest{Action: r.action, Object: object, Operator: op, Reason: reason, ReadOnly: r.read})
}
