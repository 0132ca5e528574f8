// Command addsection appends a custom section to a WebAssembly module,
// deterministically: build/plugins.sh uses it to embed a plugin's
// manifest ("pawl.manifest") after the Go compiler, which cannot emit
// custom sections, has built the module.
//
//	go run ./plugins/internal/addsection -name pawl.manifest -payload manifest.json in.wasm out.wasm
//
// It refuses a module that already has a section of that name, and checks
// a pawl.manifest with the host's own manifest reader before writing.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/pawl-dev/pawl/engine/sandbox"
)

func main() {
	name := flag.String("name", sandbox.ManifestSection, "custom section name")
	payload := flag.String("payload", "", "file whose bytes become the section's payload")
	unchecked := flag.Bool("unchecked", false, "do not check a pawl.manifest (for test modules that must be wrong)")
	flag.Parse()
	if flag.NArg() != 2 || *payload == "" {
		fmt.Fprintln(os.Stderr, "usage: addsection [-name NAME] [-unchecked] -payload FILE in.wasm out.wasm")
		os.Exit(2)
	}
	if err := run(*name, *payload, flag.Arg(0), flag.Arg(1), !*unchecked); err != nil {
		fmt.Fprintln(os.Stderr, "addsection:", err)
		os.Exit(1)
	}
}

func run(name, payloadFile, in, out string, check bool) error {
	wasm, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(payloadFile)
	if err != nil {
		return err
	}
	var res []byte
	if name == sandbox.ManifestSection && check {
		// The payload is embedded byte for byte, but for its trailing
		// newlines (sandbox.EmbedManifest says why), and checked with the
		// host's manifest reader.
		if res, err = sandbox.EmbedManifest(wasm, data); err != nil {
			return fmt.Errorf("%s with %s: %w", in, payloadFile, err)
		}
	} else {
		if name == sandbox.ManifestSection {
			data = bytes.TrimRight(data, "\n")
		}
		res = sandbox.AppendCustomSection(wasm, name, data)
	}
	return os.WriteFile(out, res, 0o644)
}
