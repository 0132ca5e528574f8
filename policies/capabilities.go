package policies

import (
	"sort"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// forbiddenBuiltins are removed from the capabilities on top of every builtin
// OPA itself marks non-deterministic. Each one would make a decision depend on
// something that is not in its input (the network, the clock, a random
// source, the host), so a recorded decision could not be replayed.
var forbiddenBuiltins = map[string]string{
	"http.send":          "network access",
	"net.lookup_ip_addr": "network access (DNS)",
	"opa.runtime":        "reads the host's environment and configuration",
	"time.now_ns":        "reads the clock; take the time from input.time",
	"rand.intn":          "randomness",
	"uuid.rfc4122":       "randomness",
	// These verify against the wall clock (certificate validity, JWT exp/nbf)
	// unless told a time; the safe subset is parsing, not verifying.
	"io.jwt.decode_verify":                                   "reads the clock (exp/nbf) and may fetch keys",
	"crypto.x509.parse_and_verify_certificates":              "verifies validity against the wall clock",
	"crypto.x509.parse_and_verify_certificates_with_options": "verifies validity against the wall clock unless told a time",
	// Signing with ECDSA/RSA-PSS draws randomness.
	"io.jwt.encode_sign":     "randomness (signature nonce)",
	"io.jwt.encode_sign_raw": "randomness (signature nonce)",
	// Schemas may carry remote $refs that OPA would fetch.
	"json.verify_schema": "may fetch remote $refs",
	"json.match_schema":  "may fetch remote $refs",
}

var (
	capsOnce    sync.Once
	capsValue   *ast.Capabilities
	capsRemoved []string
)

// Capabilities returns the OPA capabilities pawl compiles every policy with:
// the builtins of this OPA version minus every builtin that reaches the
// network, the clock, a random source or the host. A module that calls or
// refers to a removed builtin fails to compile ("undefined function"), in
// production, in `pawl policy test` and in `pawl policy eval` alike. The
// returned value is shared; do not modify it.
func Capabilities() *ast.Capabilities {
	capsOnce.Do(func() {
		all := ast.CapabilitiesForThisVersion(ast.CapabilitiesRegoVersion(ast.RegoV1))
		kept := make([]*ast.Builtin, 0, len(all.Builtins))
		for _, b := range all.Builtins {
			if _, bad := forbiddenBuiltins[b.Name]; bad || b.Nondeterministic {
				capsRemoved = append(capsRemoved, b.Name)
				continue
			}
			kept = append(kept, b)
		}
		all.Builtins = kept
		// AllowNet empty (not nil) means: no host may be contacted, not even
		// by the type checker fetching a remote JSON schema.
		all.AllowNet = []string{}
		sort.Strings(capsRemoved)
		capsValue = all
	})
	return capsValue
}

// RemovedBuiltins lists, sorted, the builtins Capabilities leaves out.
func RemovedBuiltins() []string {
	Capabilities()
	return append([]string(nil), capsRemoved...)
}
