#!/usr/bin/env bash
# Installs the Debian packages the builds and tests need beyond Go:
#   wabt      wat2wasm, for the plugins and test modules written in WebAssembly text.
#   chromium  headless, to check that the inspectors' HTML report renders.
# Idempotent: does nothing when the tools are already there. Needs root (CI is).
set -euo pipefail
missing=()
command -v wat2wasm >/dev/null 2>&1 || missing+=(wabt)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "setup-tools: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
