#!/usr/bin/env bash
# Builds pawl's WebAssembly plugins reproducibly.
#
#   build/plugins.sh            rebuild the committed modules in place
#   build/plugins.sh OUTDIR     write OUTDIR/<name>.wasm instead (the
#                               reproducibility test compares these)
#
# C plugins (the first-party ones, plugins/<name>/c/<name>.c with
# plugins/c/pawl.c): clang-14 and wasm-ld for wasm32, freestanding; see
# below. Without clang-14 they are skipped (the committed .wasm files stay).
#
# Go plugins (plugins/<name>/wasm; today only engine/sandbox's test guests):
#   GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -buildvcs=false -ldflags=-buildid=
# then plugins/internal/addsection appends plugins/<name>/manifest.json as
# the "pawl.manifest" custom section. The Go version is part of the build:
# the same source gives the same bytes only with the toolchain named in
# plugins/GOVERSION and go.mod's toolchain line. GOTOOLCHAIN=local: the go
# found on PATH builds, switching to no other; under `go test` (which puts
# its GOROOT/bin first on PATH) that is the test's own toolchain.
#
# WAT modules (plugins/notblank, engine/sandbox/testdata/wat) need wabt's
# wat2wasm: build/setup-tools.sh installs it. Without it they are skipped
# (the committed .wasm files stay).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-}
if [ -n "$out" ]; then mkdir -p "$out"; out=$(cd "$out" && pwd); fi

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
want=$(cat plugins/GOVERSION)
have=$(go env GOVERSION)
if [ "$want" != "$have" ] && [ -z "${PAWL_ANY_GO:-}" ]; then
	echo "plugins.sh: plugins/GOVERSION says $want but go is $have: the modules would not be byte-identical." >&2
	echo "plugins.sh: install $want, or set PAWL_ANY_GO=1 and update plugins/GOVERSION with the new pins." >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/addsection" ./plugins/internal/addsection

# The first-party plugins written in C, and any written in Go.
c_plugins="range registry zscore freshness"
go_plugins="" # none now; the Go guests built below are engine/sandbox's test plugins

dest() { # dest NAME DEFAULT_PATH
	if [ -n "$out" ]; then echo "$out/$1.wasm"; else echo "$2"; fi
}

# C plugins (plugins/<name>/c/<name>.c with the shared plugins/c/pawl.c):
# clang and wasm-ld for wasm32, freestanding (no libc, no WASI), no debug
# information and no paths in the module: the same source and the same
# clang give the same bytes.
cc=${PAWL_CLANG:-clang-14} # clang is an input, as the Go version is: another one may give other bytes
if command -v "$cc" >/dev/null 2>&1; then
	for p in $c_plugins; do
		"$cc" --target=wasm32 -mbulk-memory -nostdlib -ffreestanding -ffp-contract=off -Os -Wall -Werror -ffile-prefix-map="$root"=. \
			-Wl,--no-entry -Wl,--strip-all -Wl,--export-dynamic \
			-o "$tmp/$p.wasm" plugins/c/pawl.c "plugins/$p/c/$p.c"
		"$tmp/addsection" -payload "plugins/$p/manifest.json" "$tmp/$p.wasm" "$(dest "$p" "plugins/$p/$p.wasm")"
	done
else
	echo "plugins.sh: $cc not found; skipping the C plugins (run build/setup-tools.sh)" >&2
fi

for p in $go_plugins; do
	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-buildid= \
		-o "$tmp/$p.wasm" "./plugins/$p/wasm"
	"$tmp/addsection" -payload "plugins/$p/manifest.json" "$tmp/$p.wasm" "$(dest "$p" "plugins/$p/$p.wasm")"
done

# The Go test plugin of engine/sandbox.
GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-buildid= \
	-o "$tmp/probe.wasm" ./engine/sandbox/testdata/probe
cat > "$tmp/probe.json" <<'JSON'
{"abi": 1, "name": "probe", "version": "0.0.1", "mode": "stateless", "fields": [{"name": "value", "pointer": "/value", "type": "number"}]}
JSON
"$tmp/addsection" -payload "$tmp/probe.json" "$tmp/probe.wasm" "$(dest probe engine/sandbox/testdata/probe.wasm)"

# The stateful test plugin of engine/sandbox, with its state declared, and
# the same code with none (which the host refuses).
GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-buildid= \
	-o "$tmp/stateprobe.wasm" ./engine/sandbox/testdata/stateprobe
cat > "$tmp/stateprobe.json" <<'JSON'
{"abi": 1, "name": "stateprobe", "version": "0.0.1", "mode": "ordered", "fields": [{"name": "value", "pointer": "/value", "type": "number"}], "state": {"max_key_bytes": 32, "max_value_bytes": 64, "max_keys": 4, "prefixes": ["k/"]}}
JSON
"$tmp/addsection" -payload "$tmp/stateprobe.json" "$tmp/stateprobe.wasm" "$(dest stateprobe engine/sandbox/testdata/stateprobe.wasm)"
# Version 0.0.2 of stateprobe: the same code, its state declared in format
# 2 (engine/ratchet's test of a format change).
cat > "$tmp/stateprobe2.json" <<'JSON'
{"abi": 1, "name": "stateprobe", "version": "0.0.2", "mode": "ordered", "fields": [{"name": "value", "pointer": "/value", "type": "number"}], "state": {"max_key_bytes": 32, "max_value_bytes": 64, "max_keys": 4, "prefixes": ["k/"], "format": "2"}}
JSON
"$tmp/addsection" -payload "$tmp/stateprobe2.json" "$tmp/stateprobe.wasm" "$(dest stateprobe2 engine/sandbox/testdata/stateprobe2.wasm)"
# Version 0.0.5 of stateprobe: the same code, its state open to any key
# and any number of keys, a value at most 8 bytes (what its puts write):
# the sandbox's tests of the declaration's edges.
cat > "$tmp/stateprobe5.json" <<'JSON'
{"abi": 1, "name": "stateprobe", "version": "0.0.5", "mode": "ordered", "fields": [{"name": "value", "pointer": "/value", "type": "number"}], "state": {"max_key_bytes": 32, "max_value_bytes": 8}}
JSON
"$tmp/addsection" -payload "$tmp/stateprobe5.json" "$tmp/stateprobe.wasm" "$(dest stateprobe5 engine/sandbox/testdata/stateprobe5.wasm)"
# Version 0.0.4 of stateprobe, in Go: its state in format 3, migrated from
# format 1 or 2 through plugins/pdk/state/migrate (engine/ratchet's test of
# a format change).
GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-buildid= \
	-o "$tmp/stategomigrate.wasm" ./engine/sandbox/testdata/stategomigrate
cat > "$tmp/stategomigrate.json" <<'JSON'
{"abi": 1, "name": "stateprobe", "version": "0.0.4", "mode": "ordered", "fields": [{"name": "value", "pointer": "/value", "type": "number"}], "state": {"max_key_bytes": 32, "max_value_bytes": 64, "max_keys": 4, "prefixes": ["k/"], "format": "3"}}
JSON
"$tmp/addsection" -payload "$tmp/stategomigrate.json" "$tmp/stategomigrate.wasm" "$(dest stategomigrate engine/sandbox/testdata/stategomigrate.wasm)"
cat > "$tmp/stateundeclared.json" <<'JSON'
{"abi": 1, "name": "stateundeclared", "version": "0.0.1", "mode": "ordered", "fields": [{"name": "value", "pointer": "/value", "type": "number"}]}
JSON
"$tmp/addsection" -payload "$tmp/stateundeclared.json" "$tmp/stateprobe.wasm" "$(dest stateundeclared engine/sandbox/testdata/stateundeclared.wasm)"

if ! command -v wat2wasm >/dev/null 2>&1; then
	echo "plugins.sh: wat2wasm not found; skipping the WAT modules (run build/setup-tools.sh)" >&2
	exit 0
fi
wat2wasm plugins/notblank/notblank.wat -o "$tmp/notblank.wasm"
"$tmp/addsection" -payload plugins/notblank/manifest.json "$tmp/notblank.wasm" "$(dest notblank plugins/notblank/notblank.wasm)"

# Version 0.0.3 of stateprobe, in WAT: its state in format 2, migrated from
# format 1 by its pawl_migrate_state (engine/ratchet's migration test).
wat2wasm engine/sandbox/testdata/statemigrate/statemigrate.wat -o "$tmp/statemigrate.wasm"
cat > "$tmp/statemigrate.json" <<'JSON'
{"abi": 1, "name": "stateprobe", "version": "0.0.3", "mode": "ordered", "fields": [{"name": "value", "pointer": "/value", "type": "number"}], "state": {"max_key_bytes": 32, "max_value_bytes": 64, "max_keys": 4, "prefixes": ["k/"], "format": "2"}}
JSON
"$tmp/addsection" -payload "$tmp/statemigrate.json" "$tmp/statemigrate.wasm" "$(dest statemigrate engine/sandbox/testdata/statemigrate.wasm)"

# The hostile test modules: each gets a one-field manifest; wrongabi's
# claims ABI 2.
for f in engine/sandbox/testdata/wat/*.wat; do
	n=$(basename "$f" .wat)
	abi=1
	if [ "$n" = wrongabi ]; then abi=2; fi
	printf '{"abi": %d, "name": "hostile-%s", "version": "0.0.1", "mode": "stateless", "fields": [{"name": "value", "pointer": "/value", "type": "number"}]}' \
		"$abi" "$n" >"$tmp/$n.json"
	wat2wasm "$f" -o "$tmp/$n.wasm"
	check=""
	# addsection checks a manifest with the host's reader, which (rightly)
	# refuses ABI 2: this one is written unchecked on purpose.
	if [ "$n" = wrongabi ]; then check=-unchecked; fi
	"$tmp/addsection" $check -payload "$tmp/$n.json" "$tmp/$n.wasm" "$(dest "hostile-$n" "engine/sandbox/testdata/$n.wasm")"
done
# pawl validate's OQ embeds two of them (engine/validate/modules): the same
# bytes, which TestModulesAreTheSandboxs checks.
if [ -z "$out" ]; then
	cp engine/sandbox/testdata/ok.wasm engine/sandbox/testdata/loop.wasm engine/validate/modules/
fi
echo "plugins.sh: built with $have"
