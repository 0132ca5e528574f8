package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/policies"
	"github.com/spf13/cobra"
)

func (a *app) policyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "The policy bundle (policies/): test, eval, sign, verify, keygen, approve-plugin, revoke-plugin",
		Long: `The project's policy bundle in policies/ decides where batches may go
(egress), which plugins may run (plugins) and whether a job's classification
is high enough (classification). See docs/policy-guide.md.

Commands that take [DIR] default to the project's policies/ directory.`,
	}
	c.AddCommand(a.policyTestCmd(), a.policyEvalCmd(), a.policySignCmd(), a.policyVerifyCmd(),
		a.policyKeygenCmd(), a.policyApproveCmd(), a.policyRevokeCmd())
	return c
}

// bundleDir is DIR when given, else the project's policies/.
func (a *app) bundleDir(argv []string) (string, error) {
	if len(argv) == 1 {
		return argv[0], nil
	}
	root, err := project.FindRoot(a.startDir())
	if err != nil {
		return "", fmt.Errorf("%w (or name the bundle directory)", err)
	}
	return filepath.Join(root, project.PolicyDir), nil
}

func (a *app) policyTestCmd() *cobra.Command {
	var coverage bool
	c := &cobra.Command{
		Use: "test [DIR] [--coverage]",
		Example: `  pawl policy test
  pawl policy test policies --coverage`,
		Short: "Run the bundle's Rego tests (*_test.rego) with pawl's capabilities",
		Long: `Run the Rego unit tests (rules named test_*) of the bundle, like opa test,
but compiled with pawl's capabilities: a module or test that calls a removed
builtin (time.now_ns, http.send, ...) fails to load. With --coverage, also
the line coverage of the policy modules (tests excluded).

Exit status 0 when every test passed, 1 otherwise.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			dir, err := a.bundleDir(argv)
			if err != nil {
				return err
			}
			rep, err := policies.Test(dir, coverage)
			if err != nil {
				return err
			}
			if a.output == "json" {
				if err := a.printJSON(rep); err != nil {
					return err
				}
			} else {
				fmt.Fprint(a.s.out, rep.String())
			}
			if !rep.OK() {
				return fmt.Errorf("policy tests of %s: %d passed, %d failed, %d errored", dir, rep.Passed, rep.Failed, rep.Errored)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&coverage, "coverage", false, "report line coverage of the policy modules")
	a.addOutputFlag(c)
	return c
}

func (a *app) policyEvalCmd() *cobra.Command {
	var input, kind, bundle string
	var explain bool
	c := &cobra.Command{
		Use: "eval --input FILE (--kind KIND | QUERY) [--explain]",
		Example: `  pawl policy eval --input request.json --kind egress
  pawl policy eval --input request.json --kind plugins --explain
  pawl policy eval --input request.json data.pawl.egress.decision`,
		Short: "Evaluate a query against the bundle: what would the policy say, and why",
		Long: `Evaluate QUERY (e.g. data.pawl.egress.decision) against the bundle with the
JSON input in FILE (- for standard input). --kind asks that kind's decision
(egress, plugins, classification, authz; witness, network and distribute in a
bundle with their modules); the input is then prepared as pawl prepares it
(unknown fields refused, time normalized, for egress the URL canonicalized and
its candidate prefixes computed), so the answer is the one pawl would get.

--explain prints the expressions that failed, with file and line.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if input == "" {
				return &usageError{errors.New("no input: pass --input FILE (a JSON object; - for standard input)")}
			}
			if (kind == "") == (len(argv) == 0) {
				return &usageError{fmt.Errorf("name either a QUERY or --kind KIND, one of %v", policies.AllKinds())}
			}
			query := ""
			if len(argv) == 1 {
				query = argv[0]
			}
			var k policies.Kind
			for _, x := range policies.AllKinds() {
				if string(x) == kind || (query != "" && x.Query() == query) {
					k = x
				}
			}
			if kind != "" && k == "" {
				return &usageError{fmt.Errorf("--kind %q: want one of %v", kind, policies.AllKinds())}
			}
			if query == "" {
				query = k.Query()
			}
			var raw json.RawMessage
			var err error
			if input == "-" {
				dec := json.NewDecoder(a.s.in)
				if err := dec.Decode(&raw); err != nil {
					return fmt.Errorf("standard input: %w", err)
				}
			} else if a.s.job != nil {
				if raw, err = a.readUserFile(input); err != nil {
					return err
				}
				if !json.Valid(raw) {
					return fmt.Errorf("policies: input file %s is not valid JSON", input)
				}
			} else if raw, err = policies.ReadInputFile(input); err != nil {
				return err
			}
			var in any = raw
			if k != "" {
				canon, err := policies.PrepareInput(k, raw)
				if err != nil {
					return err
				}
				in = json.RawMessage(canon)
			}
			dir := bundle
			if dir == "" {
				if dir, err = a.bundleDir(nil); err != nil {
					return err
				}
			}
			res, err := policies.Eval(dir, query, in, explain)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.s.out, "bundle  %s %s\nquery   %s\n", res.Bundle.Revision, res.Bundle.SHA256, res.Query)
			if k != "" {
				fmt.Fprintf(a.s.out, "input   %s\n", in)
			}
			if !res.Defined {
				fmt.Fprintln(a.s.out, "result  undefined (pawl would deny)")
			} else {
				fmt.Fprintf(a.s.out, "result  %s\n", res.Result)
			}
			if explain && res.Explain != "" {
				fmt.Fprintf(a.s.out, "\nwhy (expressions that failed):\n%s\n", strings.TrimRight(res.Explain, "\n"))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&input, "input", "i", "", "the input, a JSON `FILE` (- for standard input)")
	f.StringVar(&kind, "kind", "", "ask the decision of `KIND`: egress, plugins, classification, authz, witness, network or distribute")
	f.StringVar(&bundle, "bundle", "", "the bundle `DIR` (default: the project's policies/)")
	f.BoolVar(&explain, "explain", false, "print the expressions that failed, with file and line")
	a.addOutputFlag(c)
	return c
}

func (a *app) policySignCmd() *cobra.Command {
	var key, keyID string
	c := &cobra.Command{
		Use: "sign --key FILE [--key-id ID] [DIR]",
		Example: `  pawl policy sign --key qa-policy.key policies
  pawl policy sign --key qa-policy.key --key-id qa-2026 policies`,
		Short: "Sign the bundle (ed25519): writes DIR/.signatures.json",
		Long: `Load and compile the bundle, then sign it with the ed25519 private key in
FILE (PKCS#8 PEM, from pawl policy keygen) and write .signatures.json. Re-sign
after every change; engines with policy.require_signature refuse a bundle
whose files differ from what was signed.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if key == "" {
				return &usageError{errors.New("no key: pass --key FILE (the private key from `pawl policy keygen`)")}
			}
			dir, err := a.bundleDir(argv)
			if err != nil {
				return err
			}
			priv, err := a.readUserFile(key)
			if err != nil {
				return err
			}
			if err := project.SignBundle(dir, priv, keyID); err != nil {
				return err
			}
			digest, err := policies.BundleDigest(dir)
			if err != nil {
				return err
			}
			if keyID == "" {
				keyID = policies.DefaultKeyID
			}
			fmt.Fprintf(a.s.out, "signed %s (bundle %s) with key id %s: %s\n", dir, digest, keyID, filepath.Join(dir, ".signatures.json"))
			return nil
		},
	}
	c.Flags().StringVar(&key, "key", "", "the ed25519 private key `FILE` (PKCS#8 PEM)")
	c.Flags().StringVar(&keyID, "key-id", "", "the key id recorded in the signature (default pawl-policy)")
	return c
}

func (a *app) policyVerifyCmd() *cobra.Command {
	var pub, keyID string
	c := &cobra.Command{
		Use: "verify [--pub FILE] [--key-id ID] [DIR]",
		Example: `  pawl policy verify
  pawl policy verify --pub qa-policy.pub --key-id qa-2026 policies`,
		Short: "Check the bundle's signature: every file signed, unchanged, by the key",
		Long: `Check DIR/.signatures.json against the public key: an unsigned bundle, a file
changed, added or removed after signing, or a signature by another key is an
error naming the file. --pub and --key-id default to policy.public_key and
policy.key_id in pawl.yaml.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			dir, err := a.bundleDir(argv)
			if err != nil {
				return err
			}
			if pub == "" || keyID == "" {
				if root, err := project.FindRoot(a.startDir()); err == nil {
					if cfg, err := config.Load(root, nil); err == nil {
						if pub == "" && cfg.PolicyPublicKey != "" {
							pub = project.NewLayout(root, cfg.DataDir).Resolve(cfg.PolicyPublicKey)
						}
						if keyID == "" {
							keyID = cfg.PolicyKeyID
						}
					}
				}
			}
			if pub == "" {
				return &usageError{errors.New("no public key: pass --pub FILE or set policy.public_key in pawl.yaml")}
			}
			pem, err := a.readUserFile(pub)
			if err != nil {
				return err
			}
			info, err := policies.VerifyBundle(dir, pem, keyID)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(info)
			}
			fmt.Fprintf(a.s.out, "OK  %s: revision %s, bundle %s, signed with key id %s (key %s), every file matches\n", dir, info.Revision, info.SHA256, info.KeyID, info.KeyFingerprint)
			return nil
		},
	}
	c.Flags().StringVar(&pub, "pub", "", "the ed25519 public key `FILE` (PKIX PEM)")
	c.Flags().StringVar(&keyID, "key-id", "", "the key id the signature must carry (default pawl-policy)")
	a.addOutputFlag(c)
	return c
}

func (a *app) policyKeygenCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:     "keygen --out PREFIX",
		Example: `  pawl policy keygen --out qa-policy`,
		Short:   "Make an ed25519 key pair for signing bundles: PREFIX.key (private, 0600) and PREFIX.pub",
		Args:    args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return &usageError{errors.New("no --out PREFIX: the keys are written to PREFIX.key and PREFIX.pub")}
			}
			priv, pub, err := policies.GenerateSigningKey()
			if err != nil {
				return err
			}
			for _, f := range []struct {
				path string
				data []byte
				mode os.FileMode
			}{{out + ".key", priv, 0o600}, {out + ".pub", pub, 0o644}} {
				if err := durable.WriteNew(f.path, f.data, f.mode); err != nil {
					return fmt.Errorf("%w (keygen never overwrites a key)", err)
				}
			}
			fmt.Fprintf(a.s.out, "private key %s.key (keep it off the enclave's data paths)\npublic key  %s.pub (set policy.public_key to it)\n", out, out)
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "write `PREFIX`.key and PREFIX.pub")
	return c
}

func (a *app) policyApproveCmd() *cobra.Command {
	var operator, reason string
	c := &cobra.Command{
		Use:     "approve-plugin NAME@VERSION...",
		Example: `  pawl policy approve-plugin range@1.2.0 --reason "reviewed in CR-114"`,
		Short:   "Approve pinned plugins in the bundle (policies/data.json plugins.approved), by hash",
		Long: `Add each pinned plugin's sha256, name, version and capabilities to
plugins.approved in policies/data.json, and record the approval. The bundle
changes, so run pawl pin afterwards. A signed bundle is refused: edit
data.json and re-sign instead.`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			if operator == "" {
				operator = p.Cfg.Operator
			}
			ps, err := gate.ApprovePinned(c.Context(), p, argv, operator, reason)
			if err != nil {
				return err
			}
			for _, x := range ps {
				fmt.Fprintf(a.s.out, "approved %s@%s %s capabilities %v\n", x.Name, x.Version, x.Hash, x.Capabilities)
			}
			fmt.Fprintln(a.s.out, "policies/data.json changed: review it, then run `pawl pin --reason ...`")
			return nil
		},
	}
	c.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	c.Flags().StringVar(&reason, "reason", "", "why the plugins are approved (recorded in the audit trail)")
	return c
}

func (a *app) policyRevokeCmd() *cobra.Command {
	var operator, reason string
	c := &cobra.Command{
		Use:     "revoke-plugin NAME@VERSION --reason TEXT",
		Example: `  pawl policy revoke-plugin range@1.0.0 --reason "CVE in its unit table, CR-140"`,
		Short:   "Take a plugin's approval out of the bundle (the inverse of approve-plugin)",
		Long: `Remove every hash approved as NAME@VERSION from plugins.approved in
policies/data.json, and record each revocation (policy.plugin_revoked). The
bundle changes, so run pawl pin afterwards (a change of the bundle: the
two-person rule applies); from then on the plugins policy refuses to run it.
The plugin's pin is untouched (pawl plugin remove). A signed bundle is
refused: edit data.json and re-sign instead. A refusal changes nothing and
is on record (policy.plugin_revoke_refused).`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if strings.TrimSpace(reason) == "" {
				return &usageError{fmt.Errorf("policy revoke-plugin needs --reason: why %s may no longer run is on record", argv[0])}
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			if operator == "" {
				operator = p.Cfg.Operator
			}
			ps, err := gate.RevokePlugin(c.Context(), p, argv[0], operator, reason)
			if err != nil {
				return err
			}
			for _, x := range ps {
				fmt.Fprintf(a.s.out, "revoked %s@%s %s (was approved for capabilities %v)\n", x.Name, x.Version, x.Hash, x.Capabilities)
			}
			fmt.Fprintln(a.s.out, "policies/data.json changed: review it, then run `pawl pin --reason ...`")
			return nil
		},
	}
	c.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	c.Flags().StringVar(&reason, "reason", "", "why the plugin may no longer run (required; recorded in the audit trail)")
	return c
}
