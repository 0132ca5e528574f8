#!/usr/bin/env bash
# Fuzz every fuzz target in the repository briefly, failing on any crash.
# Usage: bash build/fuzz.sh [TIME]   (TIME per target: seconds, or any
# -fuzztime value such as 30s or 10000x; default 5)
#
# The targets are whatever `go test -list '^Fuzz'` finds in each package,
# so a new target is fuzzed without being added here. Each runs its seed
# corpus (f.Add and testdata/fuzz/<name>/) and then mutates for TIME. A
# failing input is written to the package's testdata/fuzz/<name>/ and the
# script exits 1 after running the other targets.
#
# Measured on this 2-core box, idle, build cache warm, with the default 5 s:
# 29 targets in two lanes in 139 s (one lane took 214 s for 23 targets):
# about 20 s to list the targets, then about 9 s per target of which 4 s
# are worker start-up and the stored corpus. The fuzzing builds are
# instrumented for coverage and cached apart from `go test`'s: with none of
# them cached (a fresh CI runner) a run spends several minutes building
# (mattn/go-sqlite3's C code, OPA and wazero, once each). Keep the Go build
# cache between CI runs. PAWL_FUZZ_LANES sets the number of lanes.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${1:-5}
case $fuzztime in
*[!0-9]*) ;;
'') echo "usage: $0 [TIME]" >&2; exit 2 ;;
*) fuzztime=${fuzztime}s ;;
esac

# The packages with a test file that declares a fuzz function (listing
# every package would build and link every test binary, a minute and a
# half here), then `go test -list` of each: it prints the package's fuzz
# targets, then "ok  <pkg> …".
pkgs=$(go list -f '{{.ImportPath}} {{.Dir}} {{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' ./... |
	while read -r pkg dir files; do
		for f in $files; do
			if grep -q '^func Fuzz' "$dir/$f"; then
				echo "$pkg"
				break
			fi
		done
	done)
targets=$(go test -list '^Fuzz' $pkgs | awk '
	/^Fuzz/ { names[n++] = $1; next }
	/^ok/   { for (i = 0; i < n; i++) print $2, names[i]; n = 0 }
')
if [ -z "$targets" ]; then
	echo "build/fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

start=$SECONDS
# Two lanes, one fuzzing worker each (-parallel 1): the targets' start-up
# (building, worker start, the stored corpus) is about half of each one's
# time and is mostly one core's work, so two lanes on two cores take about
# half the wall time of one lane with two workers, for the same fuzzing
# time per target.
lanes=${PAWL_FUZZ_LANES:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# fuzz_once LOG PKG NAME [FUZZTIME]: one run of a target; 0 when it
# passed, 1 when it failed, 2 when it stopped with Go's "context deadline
# exceeded" and wrote no failing input: the fuzz coordinator's race at the
# end of a -fuzztime duration (go.dev/issue/75804, fixed in Go 1.27), not a
# finding. The retry counts executions instead (-fuzztime Nx, N what the
# first run reached), which has no deadline to race.
fuzz_once() {
	local log=$1 ft=${4:-$fuzztime}
	local dir before after
	dir=$(go list -f '{{.Dir}}' "$2")/testdata/fuzz/$3
	before=$(ls "$dir" 2>/dev/null | sort || true)
	if go test -run '^$' -fuzz "^${3}\$" -fuzztime "$ft" -parallel 1 "$2" >"$log" 2>&1; then
		return 0
	fi
	after=$(ls "$dir" 2>/dev/null | sort || true)
	if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log" &&
		[ "$(grep -c -e '^--- FAIL' -e 'panic:' -e 'Failing input written' "$log")" -eq 1 ]; then
		return 2
	fi
	return 1
}

# lane N: fuzzes every lanes-th target from the N-th, writing what it
# prints to $work/out.N and each failed target to $work/failed.N.
lane() {
	local n=$1 i=0 pkg name t0 status execs log=$work/log.$1
	while read -r pkg name; do
		i=$((i + 1))
		[ $(((i - 1) % lanes)) -eq "$n" ] || continue
		t0=$SECONDS
		status=0
		fuzz_once "$log" "$pkg" "$name" || status=$?
		if [ $status -eq 2 ]; then
			echo "again $name: the fuzz coordinator stopped with \"context deadline exceeded\" and no failing input (go.dev/issue/75804)"
			execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
			status=0
			fuzz_once "$log" "$pkg" "$name" "$((${execs:-0} > 100 ? execs : 100))x" || status=$?
		fi
		case $status in
		0)
			execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 || true)
			printf 'ok    %-28s %-45s %3ds %s\n' "$name" "${pkg#github.com/pawl-dev/pawl/}" $((SECONDS - t0)) "${execs:-}"
			;;
		*)
			printf 'FAIL  %-28s %s\n' "$name" "$pkg"
			grep -v '^fuzz: elapsed' "$log" || true
			echo "$pkg $name" >>"$work/failed.$n"
			;;
		esac
	done <<<"$targets" >"$work/out.$n" 2>&1
}

pids=()
for ((n = 0; n < lanes; n++)); do
	lane $n &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid"
done
cat "$work"/out.*
echo "$(wc -l <<<"$targets") fuzz targets, ${fuzztime} each, in $lanes lanes, in $((SECONDS - start)) s"
if cat "$work"/failed.* >/dev/null 2>&1; then
	printf 'failed: %s\n' "$(cat "$work"/failed.*)" >&2
	exit 1
fi
