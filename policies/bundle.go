package policies

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/loader/filter"
	opaversion "github.com/open-policy-agent/opa/v1/version"
)

// The default bundle, written by `pawl init` into the project's policies/
// directory. "all:" because the manifest is a dot file.
//
//go:embed all:default
var defaultBundle embed.FS

// DefaultFS returns the default bundle (the files of policies/default in this
// repository) rooted at the bundle directory: ".manifest", "data.json",
// "pawl/egress.rego", ...
func DefaultFS() fs.FS {
	sub, err := fs.Sub(defaultBundle, "default")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// The transition bundle: pawl's own authorisation for a project whose
// bundle in force has no package pawl.authz (it predates roles). See
// Transition.
//
//go:embed all:transition
var transitionBundle embed.FS

// TransitionFS returns the transition bundle (policies/transition in this
// repository) rooted at the bundle directory.
func TransitionFS() fs.FS {
	sub, err := fs.Sub(transitionBundle, "transition")
	if err != nil {
		panic(err)
	}
	return sub
}

// SignaturesFile is the bundle signature file at a bundle's root.
const SignaturesFile = ".signatures.json"

const (
	signaturesFile = SignaturesFile
	manifestFile   = ".manifest"
	// DefaultKeyID is the key id bundles are signed and verified with when
	// the caller names none.
	DefaultKeyID = "pawl-policy"
	// maxBundleBytes bounds what a bundle may hold in total; policies are
	// text, a bigger bundle is a mistake or an attack.
	maxBundleBytes = 64 << 20
)

// BundleFile is one file of a bundle as it was read: its slash-separated
// path inside the bundle, the sha256 of its bytes (hex) and its size.
type BundleFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// BundleInfo identifies the bundle a decision was made with.
type BundleInfo struct {
	// Revision is the "revision" of the bundle's .manifest.
	Revision string `json:"revision"`
	// SHA256 is "sha256:" followed by the hex sha256 of the bundle's file
	// list: one line "<hex sha256 of the file>  <path>\n" per file, sorted by
	// path (bytewise), every regular file except .signatures.json. It is the
	// output of `find . -type f ! -name .signatures.json -printf '%P\n' |
	// LC_ALL=C sort | xargs sha256sum | sha256sum` in the bundle directory.
	SHA256 string `json:"sha256"`
	// Signed is true when the bundle carries a .signatures.json file.
	Signed bool `json:"signed"`
	// SignatureVerified is true when that signature was checked against a
	// public key and every file matched it.
	SignatureVerified bool `json:"signature_verified"`
	// KeyID is the id of the key the signature was verified with.
	KeyID string `json:"key_id,omitempty"`
	// KeyFingerprint is the sha256 of the public key the signature was
	// verified with ("sha256:" and the hex sha256 of its PKIX DER, see
	// KeyFingerprint), so that a bundle verified by an unexpected key is
	// visible in every decision on record.
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
}

// LoadOptions says how a bundle is checked while it is loaded.
type LoadOptions struct {
	// PublicKeyPEM is the PKIX ("PUBLIC KEY") PEM of the ed25519 key bundles
	// are signed with. With a key, a signature that is present is verified;
	// without one, a signature is not checked (Info.SignatureVerified=false).
	PublicKeyPEM []byte
	// KeyID names the key; DefaultKeyID when empty.
	KeyID string
	// RequireSignature refuses a bundle that has no valid signature by
	// PublicKeyPEM: unsigned, tampered (a file changed, added or removed) or
	// signed by another key.
	RequireSignature bool
	// Checked, when set, remembers between processes the bundles that
	// passed the check (every module, tests included, compiled with the
	// production capabilities): a bundle it says passed is not compiled
	// for the check again. Nil: the check is made once per process.
	Checked CheckRecord
	// ProductionOnly: the caller needs the decisions only (NewEngine), not
	// the test modules (Test). A bundle known to have passed its check and
	// loaded without a signature to verify is then read without its
	// *_test.rego files, which are most of its parsing.
	ProductionOnly bool
}

// CheckRecord keeps the facts "these files passed the check under these
// rules" (CheckFact) between processes. Its keeper must make them
// unforgeable by whoever may write where they are kept (the project keeps
// them MACed by its cache key): a forged fact would let a bundle with a
// forbidden builtin be used without its check.
type CheckRecord interface {
	// Passed reports whether fact was kept, authenticated.
	Passed(fact string) bool
	// Keep keeps fact; failing to keep it costs a compilation next time.
	Keep(fact string)
}

// checkRules names how the check compiles (every module, tests included,
// Rego v1, print statements kept, the production capabilities): a change
// to it must change this string, so facts kept under the old rules are
// not taken for the new.
const checkRules = "pawl policy check v1: all modules, tests included, rego.v1, print kept"

// CheckFact is what a CheckRecord keeps for the bundle whose
// BundleInfo.SHA256 is digest: the digest, the rules of the check, the
// OPA version that compiled it and the builtins the capabilities leave
// out (the rest is this OPA version's builtins), so the fact holds only
// for the same files checked the same way by the same compiler.
func CheckFact(digest string) string {
	return fmt.Sprintf("%s\x00bundle %s\x00opa %s\x00removed builtins %s\x00allow_net []",
		checkRules, digest, opaversion.Version, strings.Join(RemovedBuiltins(), ","))
}

// Bundle is a loaded, checked bundle: parsed modules, data, and identity.
type Bundle struct {
	Info  BundleInfo
	Files []BundleFile

	source  string
	modules map[string]*ast.Module // every module, tests included
	tests   map[string]bool        // module paths that are *_test.rego
	data    map[string]any
}

// Source is the directory (or "embedded default bundle") it was loaded from.
func (b *Bundle) Source() string { return b.source }

// memFile is one file read from the bundle directory; the same bytes are
// hashed, verified against the signature and parsed, so there is no window
// between checking a file and using it.
type memFile struct {
	path string // slash-separated, relative, no leading slash
	data []byte
}

// readBundleFiles reads every regular file under fsys, sorted by path. A
// symlink, device or other irregular file is refused: what is signed and
// hashed must be exactly what is loaded.
func readBundleFiles(fsys fs.FS) ([]memFile, error) {
	var files []memFile
	var total int64
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file (%s); bundles may hold only regular files", p, d.Type())
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		total += int64(len(data))
		if total > maxBundleBytes {
			return fmt.Errorf("bundle is larger than %d bytes (at %s)", maxBundleBytes, p)
		}
		files = append(files, memFile{path: p, data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, nil
}

// bundleDigest computes BundleInfo.SHA256 and the file list.
func bundleDigest(files []memFile) (string, []BundleFile) {
	list := make([]BundleFile, 0, len(files))
	h := sha256.New()
	for _, f := range files {
		if f.path == signaturesFile {
			continue
		}
		sum := sha256.Sum256(f.data)
		hx := hex.EncodeToString(sum[:])
		fmt.Fprintf(h, "%s  %s\n", hx, f.path)
		list = append(list, BundleFile{Path: f.path, SHA256: hx, Size: int64(len(f.data))})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), list
}

// BundleDigest returns the BundleInfo.SHA256 of the bundle in dir without
// loading it, so a pin can be computed or checked cheaply.
func BundleDigest(dir string) (string, error) {
	files, err := readBundleFiles(os.DirFS(dir))
	if err != nil {
		return "", fmt.Errorf("policies: bundle %s: %w", dir, err)
	}
	d, _ := bundleDigest(files)
	return d, nil
}

// LoadBundle reads the bundle in dir, verifies its signature as opts say,
// parses and compiles it with the production capabilities, and derives the
// egress index. Any problem refuses the whole bundle with an error naming
// the file (and, for Rego, the line).
func LoadBundle(dir string, opts LoadOptions) (*Bundle, error) {
	files, err := readBundleFiles(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("policies: bundle %s: %w", dir, err)
	}
	return loadFiles(dir, files, opts)
}

// LoadBundleFS is LoadBundle for a bundle held in an fs.FS (for example
// DefaultFS()).
func LoadBundleFS(fsys fs.FS, name string, opts LoadOptions) (*Bundle, error) {
	files, err := readBundleFiles(fsys)
	if err != nil {
		return nil, fmt.Errorf("policies: bundle %s: %w", name, err)
	}
	return loadFiles(name, files, opts)
}

func loadFiles(source string, files []memFile, opts LoadOptions) (*Bundle, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("policies: bundle %s: "+format, append([]any{source}, args...)...)
	}
	digest, list := bundleDigest(files)
	signed := false
	for _, f := range files {
		if f.path == signaturesFile {
			signed = true
		} else if path.Base(f.path) == signaturesFile {
			return nil, fail("%s: a signatures file is only allowed at the bundle root", f.path)
		}
	}
	keyID := opts.KeyID
	if keyID == "" {
		keyID = DefaultKeyID
	}

	// The same files read the same way parse to the same modules and data:
	// a process that read them before without a signature to verify (the
	// bundle in force, rebuilt from the store) does not parse them again
	// for another load without one. With a key, OPA's reader verifies the
	// signature while it parses, so that load parses again.
	readAs := readKey(digest, files)
	unverified := len(opts.PublicKeyPEM) == 0 && !opts.RequireSignature
	if unverified {
		if prev := compiled.parsedBundle(readAs, !opts.ProductionOnly); prev != nil {
			b := *prev
			b.source = source
			b.Files = list
			return &b, nil
		}
	}

	// Checked before, in this process or (opts.Checked) in an earlier one:
	// not compiled for the check again; and a load that needs only the
	// decisions, with no signature to verify over every file, does not
	// parse the test modules either (they are most of a bundle's Rego).
	passed := compiled.wasChecked(digest)
	fact := ""
	if !passed && opts.Checked != nil {
		fact = CheckFact(digest)
		passed = opts.Checked.Passed(fact)
	}
	read := files
	full := true
	if passed && opts.ProductionOnly && unverified {
		read = make([]memFile, 0, len(files))
		for _, f := range files {
			if !isTestModule(f.path) {
				read = append(read, f)
			}
		}
		full = false
	}

	r := bundle.NewCustomReader(&memLoader{files: read}).
		WithRegoVersion(ast.RegoV1).
		WithCapabilities(Capabilities()).
		WithProcessAnnotations(true).
		WithSizeLimitBytes(maxBundleBytes)
	verified := false
	fingerprint := ""
	switch {
	case len(opts.PublicKeyPEM) > 0:
		fp, err := KeyFingerprint(opts.PublicKeyPEM)
		if err != nil {
			return nil, fail("%v", err)
		}
		fingerprint = fp
		vc := bundle.NewVerificationConfig(map[string]*bundle.KeyConfig{
			keyID: {Key: string(opts.PublicKeyPEM), Algorithm: SigningAlgorithm},
		}, keyID, "", nil)
		if !opts.RequireSignature {
			vc = vc.WithOptionalSignature()
		}
		r = r.WithBundleVerificationConfig(vc)
		verified = signed
	case opts.RequireSignature:
		return nil, fail("a signature is required but no public key was given")
	default:
		r = r.WithSkipBundleVerification(true)
	}
	if opts.RequireSignature && !signed {
		return nil, fail("unsigned: %s is missing and a signature is required (sign it with `pawl policy sign`)", signaturesFile)
	}

	ob, err := r.Read()
	if err != nil {
		if verified || opts.RequireSignature {
			return nil, fail("signature check failed: %v", err)
		}
		return nil, fail("%v", err)
	}
	if ob.Manifest.Revision == "" {
		return nil, fail("%s: missing \"revision\"; every bundle must say which revision it is", manifestFile)
	}

	b := &Bundle{
		Info: BundleInfo{
			Revision:          ob.Manifest.Revision,
			SHA256:            digest,
			Signed:            signed,
			SignatureVerified: verified,
		},
		Files:   list,
		source:  source,
		modules: map[string]*ast.Module{},
		tests:   map[string]bool{},
		data:    ob.Data,
	}
	if verified {
		b.Info.KeyID = keyID
		b.Info.KeyFingerprint = fingerprint
	}
	if b.data == nil {
		b.data = map[string]any{}
	}
	for _, m := range ob.Modules {
		p := strings.TrimPrefix(m.Path, "/")
		b.modules[p] = m.Parsed
		if isTestModule(p) {
			b.tests[p] = true
		}
	}
	if _, ok := b.data[derivedRoot]; ok {
		return nil, fail("data.json: the top-level key %q is reserved for what pawl derives from the bundle", derivedRoot)
	}
	idx, err := egressIndex(b.data)
	if err != nil {
		return nil, fail("data.json: %v", err)
	}
	if _, err := witnessesOf(b.data); err != nil {
		return nil, fail("data.json: %v", err)
	}
	if _, err := networkHubOf(b.data); err != nil {
		return nil, fail("data.json: %v", err)
	}
	if err := workersOf(b.data); err != nil {
		return nil, fail("data.json: %v", err)
	}
	b.data[derivedRoot] = map[string]any{"egress": map[string]any{"by_prefix": idx}}

	// Compile everything, tests included, with the production capabilities:
	// a forbidden builtin anywhere in the bundle refuses the bundle.
	// Print statements are kept for this check: erasing them first would
	// let `print(time.now_ns())` through unchecked.
	// The same files compile the same way: a bundle checked already
	// (passed, above) is not compiled for the check again.
	if !passed {
		if _, err := compileModulesWith(b.modules, true); err != nil {
			return nil, fail("%v", err)
		}
		if fact != "" {
			opts.Checked.Keep(fact)
		}
	}
	compiled.keepChecked(digest)
	if !verified {
		compiled.keepParsed(readAs, full, b)
	}
	return b, nil
}

// isTestModule tells a bundle's test modules (never part of a decision).
func isTestModule(p string) bool { return strings.HasSuffix(p, "_test.rego") }

// readKey names a bundle's bytes as read: its digest, which leaves the
// signatures out, and the sha256 of its signatures file (or "unsigned"),
// so that two loads share a reading only when every byte is the same.
func readKey(digest string, files []memFile) string {
	for _, f := range files {
		if f.path == signaturesFile {
			sum := sha256.Sum256(f.data)
			return digest + " signatures " + hex.EncodeToString(sum[:])
		}
	}
	return digest + " unsigned"
}

// compileModules compiles modules with the production capabilities; print
// statements are erased (decisions write nothing anywhere).
func compileModules(mods map[string]*ast.Module) (*ast.Compiler, error) {
	return compileModulesWith(mods, false)
}

func compileModulesWith(mods map[string]*ast.Module, print bool) (*ast.Compiler, error) {
	c := ast.NewCompiler().
		WithCapabilities(Capabilities()).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(print)
	c.Compile(mods)
	if c.Failed() {
		return nil, c.Errors
	}
	return c, nil
}

// productionModules are the bundle's modules without its tests: a test file
// can never change a decision.
func (b *Bundle) productionModules() map[string]*ast.Module {
	out := make(map[string]*ast.Module, len(b.modules))
	for p, m := range b.modules {
		if !b.tests[p] {
			out[p] = m
		}
	}
	return out
}

// derivedRoot is the data path pawl writes what it derives from the bundle
// at load time (data.pawl_derived); data.json may not use it.
const derivedRoot = "pawl_derived"

// egressIndex builds data.pawl_derived.egress.by_prefix: canonical URL
// prefix → sorted ids of the destinations with that prefix. The whitelist
// stays keyed by id for the people who edit it; the index lets one decision
// do one object lookup per candidate prefix instead of scanning every
// destination. Each destination URL goes through CanonicalURL, so the
// whitelist and the request are spelled the same way.
func egressIndex(data map[string]any) (map[string]any, error) {
	idx := map[string]any{}
	eg, ok := data["egress"]
	if !ok {
		return idx, nil
	}
	egm, ok := eg.(map[string]any)
	if !ok {
		return nil, errors.New("egress must be an object")
	}
	dests, ok := egm["destinations"]
	if !ok {
		return idx, nil
	}
	dm, ok := dests.(map[string]any)
	if !ok {
		return nil, errors.New("egress.destinations must be an object keyed by destination id")
	}
	ids := make([]string, 0, len(dm))
	for id := range dm {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d, ok := dm[id].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("egress.destinations[%q] must be an object", id)
		}
		u, ok := d["url"].(string)
		if !ok {
			return nil, fmt.Errorf("egress.destinations[%q].url must be a string", id)
		}
		c, err := CanonicalURL(u)
		if err != nil {
			return nil, fmt.Errorf("egress.destinations[%q].url: %v", id, err)
		}
		cls, ok := d["classifications"].([]any)
		if !ok {
			return nil, fmt.Errorf("egress.destinations[%q].classifications must be a list of classifications", id)
		}
		for _, c := range cls {
			if _, ok := c.(string); !ok {
				return nil, fmt.Errorf("egress.destinations[%q].classifications: %v is not a string", id, c)
			}
		}
		if ra, ok := d["requires_approval"]; ok {
			if _, isBool := ra.(bool); !isBool {
				return nil, fmt.Errorf("egress.destinations[%q].requires_approval must be true or false, not %v", id, ra)
			}
		}
		if nr, ok := d["notice_records"]; ok {
			if _, isBool := nr.(bool); !isBool {
				return nil, fmt.Errorf("egress.destinations[%q].notice_records must be true or false, not %v", id, nr)
			}
		}
		list, _ := idx[c].([]any)
		idx[c] = append(list, id)
	}
	return idx, nil
}

// memLoader hands the bytes already read (and hashed) to OPA's bundle
// reader, which verifies them against the signature and parses them.
type memLoader struct {
	files []memFile
	i     int
}

func (l *memLoader) NextFile() (*bundle.Descriptor, error) {
	if l.i >= len(l.files) {
		return nil, io.EOF
	}
	f := l.files[l.i]
	l.i++
	p := "/" + f.path
	return bundle.NewDescriptor(p, p, bytes.NewBuffer(f.data)), nil
}

func (l *memLoader) WithFilter(filter.LoaderFilter) bundle.DirectoryLoader { return l }
func (l *memLoader) WithPathFormat(bundle.PathFormat) bundle.DirectoryLoader {
	return l
}
func (l *memLoader) WithSizeLimitBytes(int64) bundle.DirectoryLoader { return l }
func (l *memLoader) WithFollowSymlinks(bool) bundle.DirectoryLoader  { return l }
