package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"unicode/utf8"
)

// ABIVersion is the plugin ABI this host speaks (docs/plugin-abi.md).
const ABIVersion = 1

// ManifestSection is the name of the custom section that holds a plugin's
// manifest. It lives inside the module so that the sha256 pin covers it.
const ManifestSection = "pawl.manifest"

// Mode says how the host may schedule a plugin.
const (
	// ModeStateless plugins judge each record on its own: the host may run
	// them on many instances at once.
	ModeStateless = "stateless"
	// ModeOrdered plugins keep state across records (a rolling mean): the
	// host runs them on one instance, in record order.
	ModeOrdered = "ordered"
)

// FieldType is the type of a column the host hands a plugin.
type FieldType string

// The column types of ABI version 1.
const (
	TypeNumber FieldType = "number" // f64 + presence bitmap
	TypeString FieldType = "string" // u32 offsets + UTF-8 bytes + presence bitmap
	TypeBool   FieldType = "bool"   // one byte per record + presence bitmap
)

func (t FieldType) code() uint32 {
	switch t {
	case TypeNumber:
		return 1
	case TypeString:
		return 2
	case TypeBool:
		return 3
	}
	return 0
}

// Field is one column a plugin reads: Name is how the plugin refers to it
// (reasons name it), Pointer the JSON pointer it reads by default (a job
// spec may bind it to another pointer), Type the column type.
type Field struct {
	Name    string    `json:"name"`
	Pointer string    `json:"pointer"`
	Type    FieldType `json:"type"`
}

// Manifest is what a plugin says about itself, read from its
// ManifestSection custom section.
type Manifest struct {
	ABI         int    `json:"abi"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	Mode        string `json:"mode"`
	// Transforms is true when the plugin may return replacement values.
	// A plugin that does not declare it and returns one is refused.
	Transforms bool    `json:"transforms,omitempty"`
	Fields     []Field `json:"fields"`
	// Lookups names the pinned read-only files the plugin needs at init
	// (e.g. "registry"); the job spec says which file each name is.
	Lookups []string `json:"lookups,omitempty"`
	// ConfigSchema is the JSON Schema (2020-12) of the plugin's config.
	// The host checks the config against it before NewInstance; the
	// plugin checks it again at init.
	ConfigSchema json.RawMessage `json:"config_schema,omitempty"`
	// State declares the keyed state the plugin keeps in the host from
	// batch to batch (pawl.state_get, pawl.state_put); nil: none. Only an
	// ordered plugin may keep state.
	State *StateDecl `json:"state,omitempty"`
}

// StateDecl is what a plugin declares of the state it keeps in the host:
// its limits, on record with the module (the manifest is inside the pinned
// bytes). A put beyond them, or of a key outside Prefixes, fails the batch
// (KindState) and nothing of the batch is committed.
type StateDecl struct {
	// MaxKeyBytes bounds one key, 1..MaxStateKeyBytes.
	MaxKeyBytes int `json:"max_key_bytes"`
	// MaxValueBytes bounds one value, 1..MaxStateValueBytes.
	MaxValueBytes int `json:"max_value_bytes"`
	// MaxKeys bounds how many keys the plugin holds at once (0: no bound
	// but the store's).
	MaxKeys int64 `json:"max_keys,omitempty"`
	// Prefixes, when given, are the only starts a key may have: the keys
	// the plugin declares it writes.
	Prefixes []string `json:"prefixes,omitempty"`
	// Format names the encoding of the plugin's keys and values ("" is
	// "1"). The host keeps the state of each format apart: a version of
	// the plugin that changes its encoding declares a new format, and a
	// job whose state holds the plugin's keys in another format does not
	// run it until the state is reset (docs/plugin-abi.md §8).
	Format string `json:"format,omitempty"`
}

// StateFormat is the format a state declaration names: "1" when it names
// none.
func (s *StateDecl) StateFormat() string {
	if s.Format == "" {
		return "1"
	}
	return s.Format
}

// The host's caps on a declared state (engine/plugstate holds the same).
const (
	MaxStateKeyBytes   = 1024
	MaxStateValueBytes = 64 << 10
)

// ID is "name@version", the way errors and the audit trail name a plugin.
func (m *Manifest) ID() string { return m.Name + "@" + m.Version }

// FieldIndex returns the column index of the field called name, or -1.
func (m *Manifest) FieldIndex(name string) int {
	for i, f := range m.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	formatRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,15}$`)
	versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)
)

var errWrongABI = errors.New("wrong plugin ABI version")

// maxFields bounds the columns of one plugin; more is a mistake, not a need.
const maxFields = 64

// ReadManifest reads and checks the manifest of a plugin without compiling
// it (for `pawl plugin add` and `pawl plugin list`). It refuses a module
// that is not WebAssembly, has no manifest or more than one, or whose
// manifest is malformed or speaks another ABI version.
func ReadManifest(wasm []byte) (*Manifest, error) {
	mod, err := scanModule(wasm)
	if err != nil {
		return nil, err
	}
	m, err := parseManifest(mod)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func parseManifest(mod *moduleInfo) (*Manifest, error) {
	var payloads [][]byte
	for _, c := range mod.customs {
		if c.name == ManifestSection {
			payloads = append(payloads, c.data)
		}
	}
	switch len(payloads) {
	case 0:
		return nil, fmt.Errorf("no %q custom section: not a pawl plugin (`pawl plugin build` embeds manifest.json in the compiler's output: docs/plugin-how-to.md)", ManifestSection)
	case 1:
	default:
		return nil, fmt.Errorf("%d %q custom sections: a plugin has exactly one manifest", len(payloads), ManifestSection)
	}
	raw := payloads[0]
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("manifest is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("manifest: trailing data after the JSON object")
	}
	if err := m.check(); err != nil {
		return &m, fmt.Errorf("manifest of %s: %w", m.ID(), err)
	}
	return &m, nil
}

func (m *Manifest) check() error {
	if m.ABI != ABIVersion {
		return fmt.Errorf("%w: built for plugin ABI %d; this pawl speaks ABI %d", errWrongABI, m.ABI, ABIVersion)
	}
	if !nameRE.MatchString(m.Name) {
		return fmt.Errorf("name %q: want %s", m.Name, nameRE)
	}
	if !versionRE.MatchString(m.Version) {
		return fmt.Errorf("version %q: want %s", m.Version, versionRE)
	}
	if m.Mode != ModeStateless && m.Mode != ModeOrdered {
		return fmt.Errorf("mode %q: want %q or %q", m.Mode, ModeStateless, ModeOrdered)
	}
	if len(m.Fields) > maxFields {
		return fmt.Errorf("%d fields: at most %d", len(m.Fields), maxFields)
	}
	seen := map[string]bool{}
	for i, f := range m.Fields {
		if !nameRE.MatchString(f.Name) {
			return fmt.Errorf("fields[%d].name %q: want %s", i, f.Name, nameRE)
		}
		if seen[f.Name] {
			return fmt.Errorf("fields[%d]: field %q declared twice", i, f.Name)
		}
		seen[f.Name] = true
		if f.Type.code() == 0 {
			return fmt.Errorf("fields[%d] %q: type %q: want number, string or bool", i, f.Name, f.Type)
		}
		if f.Pointer != "" && f.Pointer[0] != '/' {
			return fmt.Errorf("fields[%d] %q: pointer %q is not a JSON pointer", i, f.Name, f.Pointer)
		}
	}
	seenL := map[string]bool{}
	for i, l := range m.Lookups {
		if !nameRE.MatchString(l) || seenL[l] {
			return fmt.Errorf("lookups[%d] %q: want a unique name matching %s", i, l, nameRE)
		}
		seenL[l] = true
	}
	if len(m.ConfigSchema) > 0 && !json.Valid(m.ConfigSchema) {
		return fmt.Errorf("config_schema is not JSON")
	}
	if s := m.State; s != nil {
		if m.Mode != ModeOrdered {
			return fmt.Errorf("state: only an ordered plugin may keep state (mode is %q): its verdicts depend on the records before them", m.Mode)
		}
		if s.MaxKeyBytes < 1 || s.MaxKeyBytes > MaxStateKeyBytes {
			return fmt.Errorf("state.max_key_bytes %d: want 1..%d", s.MaxKeyBytes, MaxStateKeyBytes)
		}
		if s.MaxValueBytes < 1 || s.MaxValueBytes > MaxStateValueBytes {
			return fmt.Errorf("state.max_value_bytes %d: want 1..%d", s.MaxValueBytes, MaxStateValueBytes)
		}
		if s.MaxKeys < 0 {
			return fmt.Errorf("state.max_keys %d: want 0 (no bound) or more", s.MaxKeys)
		}
		if s.Format != "" && !formatRE.MatchString(s.Format) {
			return fmt.Errorf("state.format %q: want %s", s.Format, formatRE)
		}
		for i, p := range s.Prefixes {
			if p == "" || len(p) > s.MaxKeyBytes {
				return fmt.Errorf("state.prefixes[%d] %q: want 1..max_key_bytes bytes", i, p)
			}
		}
	}
	return nil
}

// EmbedManifest returns wasm (a compiler's output) with manifest, the
// bytes of a manifest.json, appended as its one "pawl.manifest" custom
// section, and checks the result with ReadManifest. The payload is the
// file's bytes, byte for byte, except its trailing newlines ("\n"), which
// are dropped: what is reviewed in manifest.json is what is pinned,
// whether or not an editor ended the file with a newline. Compilers'
// own ways to emit a section do not do this: clang's
// __attribute__((section)) and wat2wasm's --enable-annotations silently
// produce no custom section for wasm32. It refuses a module that already
// has a pawl.manifest section. `pawl plugin build` and build/plugins.sh
// (through plugins/internal/addsection) use it.
func EmbedManifest(wasm, manifest []byte) ([]byte, error) {
	mod, err := scanModule(wasm)
	if err != nil {
		return nil, err
	}
	for _, c := range mod.customs {
		if c.name == ManifestSection {
			return nil, fmt.Errorf("the module already has a %q section: embed the manifest into the compiler's output, once", ManifestSection)
		}
	}
	out := AppendCustomSection(wasm, ManifestSection, bytes.TrimRight(manifest, "\n"))
	if _, err := ReadManifest(out); err != nil {
		return nil, err
	}
	return out, nil
}
