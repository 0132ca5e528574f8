// Command bench measures `pawl run` on generated SensorReading inputs and,
// in the same run, the ajv baseline on the same file, and prints the ratio.
// It is a benchmark, not a test: run it with `bash build/bench.sh`.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pawl-dev/pawl/engine/demo"
)

func main() {
	sizes := flag.String("sizes", "1000000,5000000", "record counts to run, comma-separated")
	reps := flag.Int("reps", 3, "repetitions per measurement (the median is reported)")
	workers := flag.Int("workers", 2, "pawl --workers")
	baseline := flag.String("baseline", "", "also run pawl built from git revision `REV`, interleaved with this build, and print the time ratios")
	small := flag.Int("small", 10, "also time `N` runs of 10 records through the example job: warm, through pawl serve, and N/2 with an empty compilation cache (0: none)")
	flag.Parse()
	// Every run is at a fixed as-of time (2026-11-25), so that the outputs
	// compare across builds and days; the time window must reach it without
	// a reason. Builds that predate the window ignore the variable.
	check(os.Setenv("PAWL_TIME_WINDOW_PAST", "876000h"))

	work, err := os.MkdirTemp("", "pawl-bench-*")
	check(err)
	atExit(func() { os.RemoveAll(work) })
	defer cleanUp()
	// Stopped (Ctrl-C, kill): the baseline's worktree and the temporary
	// directory go too, as at a normal end or a failure.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "bench: stopped; removing its files")
		cleanUp()
		os.Exit(130)
	}()
	// Every project of the bench uses a compilation cache of its own,
	// removed with it, under one key (benchKey): the runs measure a warm
	// cache, as a project's runs after its first do, and leave nothing in
	// the user's cache.
	check(os.Setenv("PAWL_CACHE_DIR", filepath.Join(work, "cache")))
	bin := filepath.Join(work, "pawl")
	run("go", "build", "-trimpath", "-o", bin, "./cmd/pawl")
	builds := []build{{name: "pawl", bin: bin}}
	if *baseline != "" {
		tree := filepath.Join(work, "baseline")
		run("git", "worktree", "add", "--detach", tree, *baseline)
		atExit(func() { exec.Command("git", "worktree", "remove", "--force", tree).Run() })
		old := filepath.Join(work, "pawl-baseline")
		cmd := exec.Command("go", "build", "-trimpath", "-o", old, "./cmd/pawl")
		cmd.Dir, cmd.Stderr = tree, os.Stderr
		check(cmd.Run())
		builds = append(builds, build{name: "pawl@" + *baseline, bin: old})
	}

	// A run keeps the executable's hash for the next only once the file
	// is older than the hash cache's racy window (2 s, engine/version): a
	// binary built a moment ago is hashed again by every run, as no
	// installed one is.
	for _, bd := range builds {
		fi, err := os.Stat(bd.bin)
		check(err)
		time.Sleep(time.Until(fi.ModTime().Add(3 * time.Second)))
	}
	for _, bd := range builds { // fill the cache
		warm := filepath.Join(work, "warm.jsonl")
		f, err := os.Create(warm)
		check(err)
		check(demo.GenerateSensorReadings(f, demo.GenOptions{Records: 10, Seed: 1, AsOf: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}))
		check(f.Close())
		proj := filepath.Join(work, "warm")
		newProject(bd, proj)
		run(bd.bin, "-C", proj, "run", "sensor-feed", "--input", warm, "--as-of", "2026-11-25T00:00:00Z")
		check(os.RemoveAll(proj))
	}

	var counts []int
	for _, s := range splitComma(*sizes) {
		var n int
		fmt.Sscan(s, &n)
		counts = append(counts, n)
	}
	fmt.Printf("machine: %d CPUs; pawl --workers %d; median of %d runs, each repetition running every job in turn", numCPU(), *workers, *reps)
	if len(builds) > 1 {
		fmt.Printf("; the two builds alternate run by run")
	}
	fmt.Printf("\n\n%-10s %-30s %10s %8s %12s %12s %10s\n", "records", "tool", "seconds", "CPU s", "records/s", "peak RSS", "quarantined")
	var pawl1M, ajv1M, pawl1MCPU, ajv1MCPU float64
	var ratios []string
	for i, n := range counts {
		input := filepath.Join(work, fmt.Sprintf("sensor-%d.jsonl", n))
		f, err := os.Create(input)
		check(err)
		check(demo.GenerateSensorReadings(f, demo.GenOptions{Records: n, Seed: 1, AsOf: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), FailureRate: 0.008}))
		check(f.Close())
		// Each repetition runs every job, each build in turn: the runs a
		// ratio pairs (the all-quarantined job and the clean one, this
		// build and the baseline) are made side by side and share the
		// machine's load.
		jobs := []string{"schema-only", "sensor-feed", "sensor-feed-unknown"}
		all := make([][]measure, len(jobs))
		for j := range jobs {
			all[j] = make([]measure, len(builds))
		}
		for r := 0; r < *reps; r++ {
			for j, job := range jobs {
				for k := range builds {
					b := k
					if r%2 == 1 { // the builds take turns at going first
						b = len(builds) - 1 - k
					}
					all[j][b].add(runOnce(builds[b], work, job, input, n, r, *workers, false))
				}
			}
		}
		if i == 0 {
			// The regulator's side, on a batch of the example job of its
			// own, after the measured runs (it reads every output, and
			// would disturb the runs paired after it).
			for _, bd := range builds {
				runOnce(bd, work, "sensor-feed", input, n, *reps, *workers, true)
			}
		}
		var feedSecs, feedCPU []float64
		for j, job := range jobs {
			ms := all[j]
			if job == "sensor-feed" {
				for _, l := range auditLines {
					fmt.Println(l)
				}
				auditLines = nil
			}
			for b, bd := range builds {
				s, m := median(ms[b].secs), medianInt(ms[b].rss)
				fmt.Printf("%-10d %-30s %10.2f %8.2f %12.0f %10.1f MB %10.0f\n", n, bd.name+" "+job, s, median(ms[b].cpu), float64(n)/s, float64(m)/1e6, ms[b].quarantined)
				if i == 0 && job == "schema-only" && b == 0 {
					pawl1M, pawl1MCPU = s, median(ms[b].cpu)
				}
			}
			switch job {
			case "sensor-feed":
				feedSecs, feedCPU = ms[0].secs, ms[0].cpu
			case "sensor-feed-unknown":
				ratios = append(ratios, fmt.Sprintf("%d records, %s: every record quarantined / the clean job (sensor-feed), time ratio %.3f (median of per-repetition ratios %s; the issue's ceiling: 1.3), CPU time ratio %.3f",
					n, builds[0].name, medianRatio(ms[0].secs, feedSecs), eachRatio(ms[0].secs, feedSecs), medianRatio(ms[0].cpu, feedCPU)))
			}
			if len(builds) > 1 {
				ratios = append(ratios, fmt.Sprintf("%d records, %s: this build / %s time ratio %.3f, CPU time ratio %.3f (medians of per-pair ratios; below 1: faster)",
					n, job, builds[1].name, medianRatio(ms[0].secs, ms[1].secs), medianRatio(ms[0].cpu, ms[1].cpu)))
			}
		}
		if i == 0 {
			if _, err := os.Stat("build/bench/ajv/node_modules/ajv"); err != nil {
				fmt.Printf("%-10d %-30s skipped: run `npm ci --prefix build/bench/ajv` first\n", n, "ajv")
				continue
			}
			var asecs, acpu []float64
			var arss []int64
			var invalid float64
			for r := 0; r < *reps; r++ {
				start := time.Now()
				cmd := exec.Command("node", "build/bench/ajv/validate.js", "engine/project/scaffold/sensor-reading.json", input)
				out, err := cmd.Output()
				check(err)
				asecs = append(asecs, time.Since(start).Seconds())
				acpu = append(acpu, (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds())
				arss = append(arss, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss*1024)
				var res map[string]any
				check(json.Unmarshal(out, &res))
				invalid = res["invalid"].(float64)
			}
			ajv1M, ajv1MCPU = median(asecs), median(acpu)
			fmt.Printf("%-10d %-30s %10.2f %8.2f %12.0f %10.1f MB %10.0f\n", n, "ajv+node", ajv1M, median(acpu), float64(n)/ajv1M, float64(medianInt(arss))/1e6, invalid)
		}
	}
	if *small > 0 {
		fmt.Println()
		for _, bd := range builds {
			smallRuns(bd, work, *small)
		}
	}
	if ajv1M > 0 {
		fmt.Printf("\npawl (schema only) / ajv time ratio on %d records: %.2f (below 1: pawl is faster); CPU time ratio %.2f\n", counts[0], pawl1M/ajv1M, pawl1MCPU/ajv1MCPU)
	}
	for _, r := range ratios {
		fmt.Println(r)
	}
}

// build is one pawl binary under measurement.
type build struct{ name, bin string }

// measure collects one build's runs of one job.
type measure struct {
	secs        []float64
	cpu         []float64 // user + system time: on a loaded machine the steadier figure
	rss         []int64
	quarantined float64
}

func (m *measure) add(secs, cpu float64, rss int64, quarantined float64) {
	m.secs, m.cpu, m.rss, m.quarantined = append(m.secs, secs), append(m.cpu, cpu), append(m.rss, rss), quarantined
}

// auditLines are runOnce's timings of audit verify and prove, printed with
// the table.
var auditLines []string

// runOnce runs job over input in a fresh project made by the build's own
// init, and with regulator also times audit verify and audit prove.
func runOnce(bd build, work, job, input string, n, r, workers int, regulator bool) (float64, float64, int64, float64) {
	proj := filepath.Join(work, fmt.Sprintf("proj-%d-%d", n, r))
	defer os.RemoveAll(proj)
	newProject(bd, proj)
	// The schema stage alone: the same job without validators.
	check(os.WriteFile(filepath.Join(proj, "jobs", "schema-only.yaml"), []byte(schemaOnlyJob), 0o644))
	// The example job against a registry that knows none of the devices:
	// every record the schema lets through is quarantined by registry.
	feed, err := os.ReadFile(filepath.Join(proj, "jobs", "sensor-feed.yaml"))
	check(err)
	unknown := strings.Replace(strings.Replace(string(feed), "name: sensor-feed", "name: sensor-feed-unknown", 1),
		"lookups/device-registry.txt", "lookups/unknown-devices.txt", 1)
	check(os.WriteFile(filepath.Join(proj, "jobs", "sensor-feed-unknown.yaml"), []byte(unknown), 0o644))
	check(os.WriteFile(filepath.Join(proj, "lookups", "unknown-devices.txt"), []byte("ZZ-000000\n"), 0o644))
	run(bd.bin, "-C", proj, "pin")
	start := time.Now()
	cmd := exec.Command(bd.bin, "-C", proj, "run", job, "--input", input, "--output", "json", "--workers", fmt.Sprint(workers), "--as-of", "2026-11-25T00:00:00Z")
	out, err := cmd.Output()
	check(err)
	secs := time.Since(start).Seconds()
	cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	var res map[string]any
	check(json.Unmarshal(out, &res))
	if regulator {
		// The regulator's side on the same batch: verify the whole trail
		// and prove one record.
		id := res["batch_id"].(string)
		start := time.Now()
		run(bd.bin, "-C", proj, "audit", "verify")
		verifySecs := time.Since(start).Seconds()
		start = time.Now()
		run(bd.bin, "-C", proj, "audit", "prove", id, fmt.Sprint(n/2+1))
		auditLines = append(auditLines, fmt.Sprintf("%-10d %-30s audit verify %.2f s, audit prove %.3f s (whole process)", n, bd.name+" audit", verifySecs, time.Since(start).Seconds()))
	}
	return secs, cpu, rss, res["records_quarantined"].(float64)
}

// smallRuns times `pawl run sensor-feed` of 10 records, a fresh input
// each run, in a project whose compilation cache a first run filled:
// n runs direct, n through `pawl serve` (an operator bound to this
// account), and n/2 with an empty compilation cache. It prints the
// fastest, the median and the slowest of each against the issue's
// ceilings.
func smallRuns(bd build, work string, n int) {
	proj := filepath.Join(work, "small")
	defer os.RemoveAll(proj)
	newProject(bd, proj)
	run(bd.bin, "-C", proj, "pin")
	// A fresh input each run: the same input again is a retry, which
	// pawl answers with the batch it already made.
	inputs := make([]string, 1+n+n/2+n)
	for i := range inputs {
		inputs[i] = filepath.Join(work, fmt.Sprintf("small-%d.jsonl", i))
		f, err := os.Create(inputs[i])
		check(err)
		check(demo.GenerateSensorReadings(f, demo.GenOptions{Records: 10, Seed: uint64(100 + i), AsOf: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}))
		check(f.Close())
	}
	one := func(input string, env ...string) float64 {
		cmd := exec.Command(bd.bin, "-C", proj, "run", "sensor-feed", "--input", input, "--as-of", "2026-11-25T00:00:00Z")
		cmd.Env = append(os.Environ(), env...)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			check(fmt.Errorf("%s run sensor-feed --input %s: %v\n%s", bd.name, input, err, out))
		}
		return time.Since(start).Seconds()
	}
	report := func(what string, secs []float64, ceiling float64) {
		if len(secs) == 0 {
			return
		}
		slices.Sort(secs)
		fmt.Printf("%-10d %-30s %d runs: fastest %.3f s, median %.3f s, slowest %.3f s (the issue's ceiling: %.0f ms)\n",
			10, bd.name+" "+what, len(secs), secs[0], median(secs), secs[len(secs)-1], ceiling*1000)
	}
	next := 0
	input := func() string { next++; return inputs[next-1] }
	one(input()) // fills the project's compilation cache
	var warm, cold, served []float64
	for i := 1; i <= n; i++ {
		warm = append(warm, one(input()))
	}
	for i := 1; i <= n/2; i++ {
		empty := filepath.Join(work, fmt.Sprintf("cache-empty-%d", i))
		cold = append(cold, one(input(), "PAWL_CACHE_DIR="+empty))
		check(os.RemoveAll(empty))
	}
	report("warm", warm, 0.1)
	report("empty cache", cold, 1)

	// Through `pawl serve`: the project's data and keys then belong to
	// the server, and the run is a request to it.
	check(exec.Command("chmod", "-R", "go-rwx", filepath.Join(proj, ".pawl")).Run())
	add := exec.Command(bd.bin, "-C", proj, "operator", "add", "root", "--name", "Root Bench", "--uid", fmt.Sprint(os.Getuid()), "--reason", "bench", "--passphrase-fd", "3")
	r, w, err := os.Pipe()
	check(err)
	add.ExtraFiles = []*os.File{r}
	fmt.Fprintln(w, "correct horse battery staple forty two")
	w.Close()
	if out, err := add.CombinedOutput(); err != nil {
		check(fmt.Errorf("%s operator add: %v\n%s", bd.name, err, out))
	}
	r.Close()
	srv := exec.Command(bd.bin, "-C", proj, "serve")
	var log strings.Builder
	srv.Stdout, srv.Stderr = &log, &log
	check(srv.Start())
	var stopped sync.Once
	stop := func() { stopped.Do(func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() }) }
	atExit(stop) // also when a check below ends the bench
	defer stop()
	for i := 0; ; i++ { // until the socket answers
		if fi, err := os.Stat(filepath.Join(proj, "pawl.sock")); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		if i == 100 {
			check(fmt.Errorf("%s serve did not listen in 10 s:\n%s", bd.name, log.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := 1; i <= n; i++ {
		served = append(served, one(input()))
	}
	report("warm, served", served, 0.1)
}

// eachRatio lists a[i]/b[i], sorted.
func eachRatio(a, b []float64) string {
	var rs []string
	for _, r := range ratiosOf(a, b) {
		rs = append(rs, fmt.Sprintf("%.3f", r))
	}
	return strings.Join(rs, ", ")
}

// medianRatio is the median of a[i]/b[i]: runs made side by side share
// the machine's load, so their ratio is steadier than a ratio of medians.
func medianRatio(a, b []float64) float64 { return median(ratiosOf(a, b)) }

// ratiosOf is a[i]/b[i], sorted.
func ratiosOf(a, b []float64) []float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	slices.Sort(r)
	return r
}

// schemaOnlyJob is the example job without its validators: the issue's
// "pawl run with the schema only".
const schemaOnlyJob = `name: schema-only
source: plant-7-scada
classification: internal
format: jsonl
schema: schemas/sensor-reading.json
normalize:
  form: NFC
  identifiers: [/device_id]
`

// benchKey is the compilation cache key of every project of the bench.
const benchKey = "hmac-sha256 cGF3bC1iZW5jaC1jYWNoZS1rZXktMDEyMzQ1Njc4OWE=\n"

// newProject inits a project with the build and gives it benchKey (a
// build from before the key ignores it).
func newProject(bd build, proj string) {
	run(bd.bin, "init", proj)
	check(os.WriteFile(filepath.Join(proj, ".pawl", "keys", "cache.key"), []byte(benchKey), 0o600))
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	if out, err := cmd.Output(); err != nil {
		fmt.Fprintf(os.Stderr, "%s %v: %v\n%s", name, args, err, out)
		cleanUp()
		os.Exit(1)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		cleanUp()
		os.Exit(1)
	}
}

// cleanups are what the bench leaves behind until it ends: its temporary
// directory and the baseline's git worktree. cleanUp removes them, last
// made first, once, however the bench ends.
var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func atExit(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

func cleanUp() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

// median and medianInt sort a copy: the runs' order is kept for
// medianRatio, which pairs runs made side by side.
func median(v []float64) float64 {
	v = slices.Clone(v)
	sort.Float64s(v)
	return v[len(v)/2]
}

func medianInt(v []int64) int64 {
	v = slices.Clone(v)
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return v[len(v)/2]
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func numCPU() int {
	n := 0
	b, _ := os.ReadFile("/proc/cpuinfo")
	for i := 0; i+9 <= len(b); i++ {
		if string(b[i:i+9]) == "processor" {
			n++
		}
	}
	return n
}
