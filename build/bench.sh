#!/usr/bin/env bash
# Throughput and memory of `pawl run` (schema only) on generated SensorReading
# inputs, with ajv 8 + ajv-formats on the same file in the same run.
# Usage: bash build/bench.sh [-sizes 1000000,5000000] [-reps 3] [-baseline REV]
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v npm >/dev/null && [ ! -d build/bench/ajv/node_modules/ajv ]; then
	# At most five minutes: without the packages the bench runs pawl alone
	# and says that ajv was skipped.
	echo "bench: installing ajv (npm ci --prefix build/bench/ajv)" >&2
	timeout 300 npm ci --prefix build/bench/ajv --no-audit --no-fund >/dev/null ||
		echo "bench: npm ci failed or took over five minutes; ajv is skipped" >&2
fi
go run ./build/bench "$@"
