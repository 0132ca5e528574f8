#!/usr/bin/env bash
# Mutation testing: gremlins (github.com/go-gremlins/gremlins) v0.6.0 changes
# one operator at a time (a < becomes <=, == becomes !=, + becomes -, ...) in
# the packages below and runs their tests against each change. A mutant the
# tests do not notice LIVED: either a test is missing or the change cannot be
# told apart (docs/testing.md lists those). Efficacy is killed / (killed +
# lived); timed-out mutants count as neither, not-covered ones are never tried.
#
# Usage: bash build/mutation.sh [PACKAGE...]
#   PACKAGE is one of audit policies engine/store engine/sandbox engine/ratchet
#   (default: all of them, one at a time, in that order).
#   MUTATION_OUT=DIR keeps each package's log and gremlins' JSON report there.
# Prints killed / lived / timed out / not covered and the efficacy per
# package, lists the survivors, and exits 1 when a package is below its floor
# (85% for all but engine/sandbox, which is reported without one).
#
# It is far too slow for every CI run. With one worker on this 2-vCPU machine
# a full run took (2026-12-01/02, docs/testing.md has the scores):
#   audit 28 min, policies 34 min, engine/store 4 min, the commit path
#   63 min (under load); engine/sandbox in two parts, 397 mutants of 7 of
#   its files in 62 min (stopped there) and the 305 of the others in 42 min
#   (gremlins --exclude-files of the first part's): expect 2 hours for it
#   alone.
#
# engine/ratchet: its whole suite takes 90-120 s here, so per mutant it runs
# only the tests of the commit path (ratchet_tests: the run, rerun, pins,
# crash recovery, infrastructure failure, missing input, the plan's limits,
# replay and resubmission) with -run, and only commit.go, run.go and plan.go
# are mutated (every other file is excluded); the coverage gremlins gathers
# first is of those tests alone, so a mutant they never reach is "not
# covered", not "lived".
set -euo pipefail
cd "$(dirname "$0")/.."

gremlins=github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0

all=(audit policies engine/store engine/sandbox engine/ratchet)
ratchet_mutated=(commit.go run.go plan.go)
ratchet_tests=(TestRunEndToEnd TestRerunIsAnsweredFromTheRecord TestPinsAreEnforced
	TestRecoveryAfterCrashBetweenSteps TestRecoverFinishesEveryCommittedBatch
	TestOutputDoesNotDependOnWorkers TestAsOfOutsideWindow
	TestInfrastructureFailureCommitsNothing TestMissingInputAndUnknownJob
	TestBatchIDCoversTheLimits TestReplayWhateverTheConfigurationToday
	TestReplayReproducesTheBatch TestReplayFailsLoudlyOnASwappedArtifact
	TestResubmitACorrectedRecord)

floor() {
	case $1 in
	engine/sandbox) echo 0 ;;
	*) echo 85 ;;
	esac
}

pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
	pkgs=("${all[@]}")
fi
for p in "${pkgs[@]}"; do
	case " ${all[*]} " in
	*" $p "*) ;;
	*)
		echo "mutation.sh: unknown package $p (one of: ${all[*]})" >&2
		exit 2
		;;
	esac
done

out=${MUTATION_OUT:-}
if [ -z "$out" ]; then
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$(pwd)

summary=()
failed=0
total_start=$(date +%s)
for p in "${pkgs[@]}"; do
	name=${p//\//-}
	args=(unleash --workers 1 --output "$out/$name.json")
	# A cached coverage run would take no time, and gremlins gives each
	# mutant a multiple of that time: never take test results from the cache.
	goflags="${GOFLAGS:-} -count=1"
	case $p in
	audit)
		args+=(--exclude-files '^canonjson/') # its own package, not this target
		;;
	engine/ratchet)
		for f in engine/ratchet/*.go; do
			f=${f##*/}
			case $f in *_test.go) continue ;; esac
			case " ${ratchet_mutated[*]} " in *" $f "*) continue ;; esac
			args+=(--exclude-files "^${f//./\\.}\$")
		done
		run=$(
			IFS='|'
			echo "${ratchet_tests[*]}"
		)
		goflags="$goflags -run=^($run)\$"
		;;
	esac
	echo "== $p: gremlins v0.6.0 ${args[*]} (GOFLAGS=${goflags# })"
	start=$(date +%s)
	status=0
	(cd "$root/$p" && GOFLAGS="${goflags# }" go run "$gremlins" "${args[@]}") 2>&1 | tee "$out/$name.log" || status=$?
	secs=$(($(date +%s) - start))
	if [ $status -ne 0 ]; then
		echo "mutation.sh: gremlins failed on $p (exit $status)" >&2
		summary+=("$(printf '%-16s gremlins failed (exit %d) after %ds' "$p" "$status" "$secs")")
		failed=1
		continue
	fi
	line=$(awk -v p="$p" -v floor="$(floor "$p")" -v secs="$secs" '
		/^ *KILLED /      { k++ }
		/^ *LIVED /       { l++ }
		/^ *TIMED OUT /   { t++ }
		/^ *NOT COVERED / { n++ }
		/^ *NOT VIABLE /  { v++ }
		END {
			e = (k + l > 0) ? 100 * k / (k + l) : 0
			verdict = (floor > 0 && (k + l == 0 || e < floor)) ? "BELOW FLOOR" : "ok"
			printf "%-16s %6d %6d %9d %11d %10d %8.2f%% %5s %6ds  %s\n", p, k, l, t, n, v, e, (floor > 0 ? floor "%" : "-"), secs, verdict
		}' "$out/$name.log")
	summary+=("$line")
	case $line in *"BELOW FLOOR"*) failed=1 ;; esac
done

echo
echo "== mutation testing, gremlins v0.6.0, $(date -u +%Y-%m-%d), $((($(date +%s) - total_start) / 60)) min in all"
printf '%-16s %6s %6s %9s %11s %10s %9s %5s %7s\n' package killed lived "timed out" "not covered" "not viable" efficacy floor time
for s in "${summary[@]}"; do
	echo "$s"
done
for p in "${pkgs[@]}"; do
	name=${p//\//-}
	if [ -f "$out/$name.log" ] && grep -q '^ *LIVED ' "$out/$name.log"; then
		echo
		echo "-- $p: survivors"
		grep '^ *LIVED ' "$out/$name.log" | sed 's/^ */   /'
	fi
done
exit $failed
