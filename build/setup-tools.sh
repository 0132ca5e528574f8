#!/usr/bin/env bash
# Installs the Debian packages the builds and tests need beyond Go:
#   wabt       wat2wasm, for the plugins and test modules written in WebAssembly text.
#   chromium   headless, to check that the inspectors' HTML report renders.
#   python3    build/verify-trail.py, the stand-alone verifier the tests run.
#   coreutils  sha256sum: an export's SHA256SUMS, the policy bundle digest.
#   bsdutils   script(1), which gives pawl a terminal in the progress bar test.
#   strace     which fsyncs a run makes, in order (cmd/pawl's TestWhatIsFsynced).
#   clang-14, lld-14   clang and wasm-ld for wasm32: the first-party plugins written in C.
# build/tooltest lists the same programs: tests ask for them with
# tooltest.Need, which fails rather than skips when PAWL_CI=1 (.ci/run).
# Idempotent: does nothing when the tools are already there. Needs root (CI is).
set -euo pipefail
# tool:package, one entry per program the tests run (build/tooltest.Installed).
tools=(wat2wasm:wabt chromium:chromium python3:python3 sha256sum:coreutils script:bsdutils strace:strace clang-14:clang-14 wasm-ld-14:lld-14)
missing=()
for tp in "${tools[@]}"; do
	command -v "${tp%%:*}" >/dev/null 2>&1 || missing+=("${tp#*:}")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "setup-tools: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
for tp in "${tools[@]}"; do
	if ! command -v "${tp%%:*}" >/dev/null 2>&1; then
		echo "setup-tools: ${tp%%:*} is still missing after installing ${tp#*:}" >&2
		exit 1
	fi
done
