// Package sbom describes what a pawl binary is made of as a CycloneDX 1.6
// software bill of materials (JSON): pawl itself with the sha256 of the
// running file, every Go module linked into it (from the build info, with
// the go.sum hash of each), the SQLite C library that go-sqlite3 compiles
// in, and every first-party validator plugin embedded in the binary with
// the sha256 of its module — the hash a policy approves and a batch
// record pins.
package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/version"
	"github.com/pawl-dev/pawl/plugins"
)

// Module is pawl's module path.
const Module = "github.com/pawl-dev/pawl"

// BOM is a CycloneDX 1.6 bill of materials, the fields pawl writes.
type BOM struct {
	BOMFormat    string       `json:"bomFormat"`
	SpecVersion  string       `json:"specVersion"`
	SerialNumber string       `json:"serialNumber"`
	Version      int          `json:"version"`
	Metadata     Metadata     `json:"metadata"`
	Components   []Component  `json:"components"`
	Dependencies []Dependency `json:"dependencies"`
}

// Metadata says what the BOM is of, when and by what.
type Metadata struct {
	Timestamp string    `json:"timestamp"`
	Tools     Tools     `json:"tools"`
	Component Component `json:"component"`
}

// Tools made the BOM (pawl itself).
type Tools struct {
	Components []Component `json:"components"`
}

// Component is one part.
type Component struct {
	Type        string     `json:"type"`
	BOMRef      string     `json:"bom-ref,omitempty"`
	Name        string     `json:"name"`
	Version     string     `json:"version,omitempty"`
	Description string     `json:"description,omitempty"`
	PURL        string     `json:"purl,omitempty"`
	Hashes      []Hash     `json:"hashes,omitempty"`
	Properties  []Property `json:"properties,omitempty"`
}

// Hash is a digest of a component.
type Hash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

// Property is a name and a value CycloneDX has no field for.
type Property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Dependency says what a component depends on.
type Dependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}

// Of is the BOM of the running binary, made at now.
func Of(now time.Time) (*BOM, error) {
	bi, _ := debug.ReadBuildInfo()
	return FromBuildInfo(bi, now)
}

// FromBuildInfo is the BOM of a binary with build info bi (nil: none),
// whose other parts are this binary's (SQLite, the embedded plugins).
func FromBuildInfo(bi *debug.BuildInfo, now time.Time) (*BOM, error) {
	serial, err := uuid.NewRandom()
	if err != nil {
		return nil, err
	}
	v := version.Pawl()
	self := Component{Type: "application", BOMRef: "pawl", Name: "pawl", Version: v, PURL: purl(Module, v),
		Description: "pawl, the data ratchet",
		Properties:  []Property{{Name: "pawl:go_version", Value: runtime.Version()}}}
	if sum, err := version.BinarySHA256(); err == nil {
		self.Hashes = []Hash{{Alg: "SHA-256", Content: strings.TrimPrefix(sum, "sha256:")}}
	} else {
		self.Properties = append(self.Properties, Property{Name: "pawl:binary_sha256", Value: "unknown: " + err.Error()})
	}
	if rev, at, modified := version.VCS(); rev != "" {
		self.Properties = append(self.Properties, Property{Name: "pawl:vcs_revision", Value: rev}, Property{Name: "pawl:vcs_time", Value: at}, Property{Name: "pawl:vcs_modified", Value: modified})
	}
	b := &BOM{BOMFormat: "CycloneDX", SpecVersion: "1.6", SerialNumber: "urn:uuid:" + serial.String(), Version: 1,
		Metadata: Metadata{Timestamp: now.UTC().Format(time.RFC3339),
			Tools:     Tools{Components: []Component{{Type: "application", Name: "pawl", Version: v}}},
			Component: self}}
	if bi != nil {
		deps := append([]*debug.Module(nil), bi.Deps...)
		sort.Slice(deps, func(i, j int) bool { return deps[i].Path < deps[j].Path })
		for _, d := range deps {
			if d.Replace != nil {
				d = d.Replace
			}
			c := Component{Type: "library", BOMRef: purl(d.Path, d.Version), Name: d.Path, Version: d.Version, PURL: purl(d.Path, d.Version)}
			if d.Sum != "" {
				// go.sum's h1: hash (the SHA-256 of the module's file tree
				// listing); CycloneDX has no algorithm name for it.
				c.Properties = []Property{{Name: "pawl:go_sum", Value: d.Sum}}
			}
			b.Components = append(b.Components, c)
		}
	}
	b.Components = append(b.Components, Component{Type: "library", BOMRef: "sqlite", Name: "SQLite", Version: audit.SQLiteVersion(),
		PURL:        "pkg:generic/sqlite@" + audit.SQLiteVersion(),
		Description: "the SQLite C library (the amalgamation github.com/mattn/go-sqlite3 compiles in with cgo): the audit trail's database"})
	// A copy, not a linked module, so not in the build info
	// (engine/esign/internal/zxcvbn/PAWL.md) unless the module is linked
	// too (a test binary that compares the two).
	if !slices.ContainsFunc(b.Components, func(c Component) bool { return c.Name == zxcvbnModule }) {
		b.Components = append(b.Components, Component{Type: "library", BOMRef: purl(zxcvbnModule, zxcvbnVersion), Name: zxcvbnModule, Version: zxcvbnVersion,
			PURL:        purl(zxcvbnModule, zxcvbnVersion),
			Description: "passphrase strength estimator (MIT), copied into engine/esign/internal/zxcvbn with its dictionaries built on first use instead of at every start"})
	}
	for _, m := range plugins.FirstParty() {
		man, err := sandbox.ReadManifest(m.Wasm)
		if err != nil {
			return nil, fmt.Errorf("embedded plugin %s: %w", m.File, err)
		}
		sum := sha256.Sum256(m.Wasm)
		b.Components = append(b.Components, Component{Type: "library", BOMRef: "plugin:" + man.Name + "@" + man.Version, Name: man.Name, Version: man.Version,
			Description: "first-party validator plugin (WebAssembly, plugin ABI " + fmt.Sprint(man.ABI) + "), embedded; " + man.Description,
			Hashes:      []Hash{{Alg: "SHA-256", Content: hex.EncodeToString(sum[:])}},
			Properties:  []Property{{Name: "pawl:source", Value: "plugins/" + m.File}}})
	}
	dep := Dependency{Ref: "pawl", DependsOn: []string{}}
	for _, c := range b.Components {
		dep.DependsOn = append(dep.DependsOn, c.BOMRef)
	}
	b.Dependencies = []Dependency{dep}
	return b, nil
}

// The module engine/esign/internal/zxcvbn is a copy of; go.mod requires
// the same version for the test that compares the two.
const (
	zxcvbnModule  = "github.com/trustelem/zxcvbn"
	zxcvbnVersion = "v1.0.1"
)

// JSON is the BOM, indented.
func (b *BOM) JSON() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// purl is a Go module's package URL (pkg:golang, as the purl spec writes
// it: the path's segments percent-encoded where needed, the version after @).
func purl(path, v string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = strings.NewReplacer("@", "%40", "?", "%3F", "#", "%23").Replace(s)
	}
	p := "pkg:golang/" + strings.Join(segs, "/")
	if v != "" && v != "(devel)" {
		p += "@" + strings.NewReplacer("+", "%2B").Replace(v)
	}
	return p
}
