#!/usr/bin/env bash
# Installs the Debian packages the builds and tests need beyond Go:
#   wabt       wat2wasm, for the plugins and test modules written in WebAssembly text.
#   chromium   headless, to check that the inspectors' HTML report renders.
#   python3    the stand-alone verifiers the tests run: engine/review/verify.py (in every
#              inspectors' package) and build/verify-trail.py, its SQLite front end.
#   coreutils  sha256sum: an export's SHA256SUMS, the policy bundle digest.
#   bsdutils   script(1), which gives pawl a terminal in the progress bar test.
#   strace     which fsyncs a run makes, in order (cmd/pawl's TestWhatIsFsynced).
#   clang-14, lld-14   clang and wasm-ld for wasm32: the first-party plugins written in C.
# and three Go programs (a package with @version), built with go install into
# /usr/local/bin (nothing once they are there):
#   litewitness, witnessctl  torchwood's C2SP tlog-witness, which cmd/pawl's
#              TestWitnessLitewitness pushes pawl's checkpoints to.
#   opa        the OPA CLI at the version go.mod pins (about 5 minutes the first
#              time): policies' TestOPACLIVerifiesPawlSignatures runs
#              docs/policy-guide.md's signature recipe through it.
# build/tooltest lists the same programs: tests ask for them with
# tooltest.Need, which fails rather than skips when PAWL_CI=1 (.ci/run).
# Idempotent: does nothing when the tools are already there. Needs root (CI is).
set -euo pipefail
# tool:package, one entry per program the tests run (build/tooltest.Installed).
tools=(wat2wasm:wabt chromium:chromium python3:python3 sha256sum:coreutils script:bsdutils strace:strace clang-14:clang-14 wasm-ld-14:lld-14 litewitness:filippo.io/torchwood/cmd/litewitness@v0.6.1 witnessctl:filippo.io/torchwood/cmd/witnessctl@v0.6.1 opa:github.com/open-policy-agent/opa@v1.22.3)
missing=()
gomissing=()
for tp in "${tools[@]}"; do
	if ! command -v "${tp%%:*}" >/dev/null 2>&1; then
		case "${tp#*:}" in
		*@*) gomissing+=("${tp#*:}") ;;
		*) missing+=("${tp#*:}") ;;
		esac
	fi
done
if [ ${#missing[@]} -eq 0 ] && [ ${#gomissing[@]} -eq 0 ]; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup-tools: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for pkg in "${gomissing[@]}"; do
	echo "setup-tools: go install $pkg" >&2
	tmp=$(mktemp -d)
	(cd "$tmp" && GOBIN="$tmp" GOFLAGS= go install "$pkg")
	$SUDO install -m 0755 "$tmp"/* /usr/local/bin/
	rm -rf "$tmp"
done
for tp in "${tools[@]}"; do
	if ! command -v "${tp%%:*}" >/dev/null 2>&1; then
		echo "setup-tools: ${tp%%:*} is still missing after installing ${tp#*:}" >&2
		exit 1
	fi
done
