package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// clean unsets every PAWL_* variable of the table (an empty variable counts
// as unset) and points the user cache directory into the test.
func clean(t *testing.T) (cache string) {
	t.Helper()
	for _, k := range table {
		t.Setenv(k.Env, "")
	}
	cache = t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	return filepath.Join(cache, "pawl")
}

func project(t *testing.T, yaml string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, File), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func load(t *testing.T, root string, flags *pflag.FlagSet) Config {
	t.Helper()
	c, err := Load(root, flags)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func loadErr(t *testing.T, root string, flags *pflag.FlagSet, want ...string) {
	t.Helper()
	_, err := Load(root, flags)
	if err == nil {
		t.Fatalf("no error; want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

// TestPrecedence: flags > PAWL_* environment > pawl.yaml > defaults.
func TestPrecedence(t *testing.T) {
	cache := clean(t)
	root := t.TempDir() // no pawl.yaml: it is optional
	cfg := load(t, root, nil)
	want := Config{
		DataDir: ".pawl", Operator: osUser(), Workers: 0, MaxRecordBytes: 64 << 20, CacheDir: cache, CacheMaxBytes: 1 << 30,
		PluginCallTimeout: 30 * time.Second, TimeWindowPast: 7 * 24 * time.Hour, TimeWindowFuture: time.Hour,
		PolicyKeyID: "pawl-policy", ChangeTwoPerson: true, ChangeContractEvidence: 1000, BatchMaxQuarantineGrowth: 32, ExportTimeout: 2 * time.Minute, WatchInterval: 2 * time.Second, NoticeTimeout: 10 * time.Second,
		OpenLineageEnabled: true, OpenLineageNamespace: "pawl",
		ESignPassphraseMinScore: 3, ESignPassphraseMaxAgeDays: 90, ESignLockoutAfter: 5, ESignSessionTimeout: 15 * time.Minute,
		NetworkLeafReconnect: time.Second, DistributeIdleTimeout: time.Minute,
	}
	if cfg != want {
		t.Fatalf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
	if d := Defaults(); d != want {
		t.Fatalf("Defaults():\n got %+v\nwant %+v", d, want)
	}

	os.WriteFile(filepath.Join(root, File), []byte("operator: from-file\nworkers: 3\nmax_record_bytes: 1000\n"), 0o644)
	cfg = load(t, root, nil)
	if cfg.Operator != "from-file" || cfg.Workers != 3 || cfg.MaxRecordBytes != 1000 || cfg.DataDir != ".pawl" {
		t.Fatalf("file: %+v", cfg)
	}

	t.Setenv("PAWL_OPERATOR", "from-env")
	t.Setenv("PAWL_WORKERS", "5")
	cfg = load(t, root, nil)
	if cfg.Operator != "from-env" || cfg.Workers != 5 || cfg.MaxRecordBytes != 1000 {
		t.Fatalf("env: %+v", cfg)
	}

	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.String("operator", "", "")
	fs.Int("workers", 0, "")
	fs.Int64("max_record_bytes", 0, "") // a flag of the same name as a key without Flag: not read
	if err := fs.Parse([]string{"--operator", "from-flag", "--max_record_bytes", "7"}); err != nil {
		t.Fatal(err)
	}
	cfg = load(t, root, fs)
	if cfg.Operator != "from-flag" || cfg.Workers != 5 || cfg.MaxRecordBytes != 1000 {
		t.Fatalf("flag (workers not given, so the environment's): %+v", cfg)
	}
	if err := fs.Parse([]string{"--workers", "2"}); err != nil {
		t.Fatal(err)
	}
	cfg = load(t, root, fs)
	if cfg.Operator != "from-flag" || cfg.Workers != 2 {
		t.Fatalf("flags: %+v", cfg)
	}

	t.Setenv("PAWL_WORKERS", "-1")
	loadErr(t, root, nil, "environment PAWL_WORKERS", "workers = -1", "0 (one worker per CPU) or more")
	if cfg := load(t, root, fs); cfg.Workers != 2 {
		t.Fatalf("the flag beats an invalid environment: %+v", cfg)
	}
}

// TestESignKeys: the operator lifecycle's settings are read and bounded:
// no strength score beyond 4, no negative age, no lock-out that never
// comes.
func TestESignKeys(t *testing.T) {
	clean(t)
	root := project(t, "esign:\n  passphrase_min_score: 4\n  passphrase_max_age_days: 0\n  lockout_after: 3\n")
	if cfg := load(t, root, nil); cfg.ESignPassphraseMinScore != 4 || cfg.ESignPassphraseMaxAgeDays != 0 || cfg.ESignLockoutAfter != 3 {
		t.Fatalf("%+v", cfg)
	}
	loadErr(t, project(t, "esign:\n  passphrase_min_score: 5\n"), nil, "esign.passphrase_min_score = 5", "from 0 to 4")
	loadErr(t, project(t, "esign:\n  lockout_after: 0\n"), nil, "esign.lockout_after = 0", "from 1 to 1000")
	loadErr(t, project(t, "esign:\n  passphrase_max_age_days: -1\n"), nil, "esign.passphrase_max_age_days = -1", "from 0 to 36500")
}

func TestFlagBeatsBadEnvironment(t *testing.T) {
	clean(t)
	root := t.TempDir()
	t.Setenv("PAWL_WORKERS", "many")
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.Int("workers", 0, "")
	fs.Parse([]string{"--workers", "4"})
	if cfg := load(t, root, fs); cfg.Workers != 4 {
		t.Fatalf("workers %d", cfg.Workers)
	}
}

func TestEmptyOperatorIsOSUser(t *testing.T) {
	clean(t)
	root := project(t, "operator: \"\"\n")
	if cfg := load(t, root, nil); cfg.Operator != osUser() || cfg.Operator == "" {
		t.Fatalf("operator %q", cfg.Operator)
	}
}

func TestUnknownKey(t *testing.T) {
	clean(t)
	root := project(t, "workres: 3\npolicy:\n  public_kye: k.pem\n")
	want := []string{filepath.Join(root, File), "unknown key(s) policy.public_kye, workres", "docs/configuration.md"}
	for _, k := range table {
		want = append(want, k.Name)
	}
	loadErr(t, root, nil, want...)

	// A section written as a value is no key either.
	loadErr(t, project(t, "export: 5\n"), nil, "unknown key(s) export ")
}

func TestValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		bad  func(*Config)
		want []string
	}{
		{func(c *Config) { c.Workers = -1 }, []string{"workers = -1", "0 (one worker per CPU) or more"}},
		{func(c *Config) { c.MaxRecordBytes = 0 }, []string{"max_record_bytes = 0", "positive number of bytes", "67108864"}},
		{func(c *Config) { c.MaxRecordBytes = -5 }, []string{"max_record_bytes = -5"}},
		{func(c *Config) { c.CacheMaxBytes = 0 }, []string{"cache_max_bytes = 0", "-1 for no cap"}},
		{func(c *Config) { c.CacheMaxBytes = -2 }, []string{"cache_max_bytes = -2"}},
		{func(c *Config) { c.PluginCallTimeout = 0 }, []string{"plugin.call_timeout = 0s", "more than 0", "e.g. 30s"}},
		{func(c *Config) { c.ExportTimeout = -time.Second }, []string{"export.timeout = -1s", "more than 0", "e.g. 2m"}},
		{func(c *Config) { c.DataDir = "" }, []string{"data_dir is empty", "default .pawl"}},
		{func(c *Config) { c.TimeWindowPast = -time.Hour }, []string{"time_window.past = -1h", "0 or more", "e.g. 168h"}},
		{func(c *Config) { c.TimeWindowFuture = -time.Second }, []string{"time_window.future = -1s", "0 or more", "e.g. 1h"}},
	} {
		c := Defaults()
		tc.bad(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("%+v: no error", c)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
	}
	c := Defaults()
	c.Workers, c.ExportTimeout = -2, 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "workers = -2") || !strings.Contains(err.Error(), "export.timeout = 0s") {
		t.Fatalf("every bad key is reported: %v", err)
	}
}

// TestLoadValidates: Load refuses what Validate refuses, and names the
// source.
func TestLoadValidates(t *testing.T) {
	clean(t)
	root := project(t, "max_record_bytes: 0\nplugin:\n  call_timeout: 0s\n")
	file := filepath.Join(root, File)
	loadErr(t, root, nil, file+": max_record_bytes = 0", file+": plugin.call_timeout = 0s")
	t.Setenv("PAWL_EXPORT_TIMEOUT", "-3s")
	loadErr(t, root, nil, "environment PAWL_EXPORT_TIMEOUT: export.timeout = -3s")
	loadErr(t, project(t, "data_dir: \"\"\n"), nil, "data_dir is empty")
}

func TestCacheDir(t *testing.T) {
	cache := clean(t)
	root := project(t, "cache_dir: cache\n")
	if cfg := load(t, root, nil); cfg.CacheDir != filepath.Join(root, "cache") {
		t.Errorf("relative: %s", cfg.CacheDir)
	}
	abs := filepath.Join(t.TempDir(), "c")
	if cfg := load(t, project(t, "cache_dir: "+abs+"\n"), nil); cfg.CacheDir != abs {
		t.Errorf("absolute: %s", cfg.CacheDir)
	}
	t.Setenv("PAWL_CACHE_DIR", "from-env")
	if cfg := load(t, root, nil); cfg.CacheDir != filepath.Join(root, "from-env") {
		t.Errorf("relative from the environment: %s", cfg.CacheDir)
	}
	t.Setenv("PAWL_CACHE_DIR", "")
	empty := t.TempDir()
	if cfg := load(t, empty, nil); cfg.CacheDir != cache {
		t.Errorf("default: %s, want %s", cfg.CacheDir, cache)
	}
	// No user cache directory: <data_dir>/cache.
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if Defaults().CacheDir != "" {
		t.Errorf("Defaults without a cache directory: %q", Defaults().CacheDir)
	}
	if cfg := load(t, empty, nil); cfg.CacheDir != filepath.Join(empty, ".pawl", "cache") {
		t.Errorf("no user cache dir: %s", cfg.CacheDir)
	}
	data := filepath.Join(t.TempDir(), "data")
	if cfg := load(t, project(t, "data_dir: "+data+"\n"), nil); cfg.CacheDir != filepath.Join(data, "cache") {
		t.Errorf("no user cache dir, absolute data_dir: %s", cfg.CacheDir)
	}
}

func TestDurations(t *testing.T) {
	clean(t)
	root := project(t, "export:\n  timeout: 90s\n")
	cfg := load(t, root, nil)
	if cfg.ExportTimeout != 90*time.Second || cfg.PluginCallTimeout != 30*time.Second {
		t.Fatalf("from the file: %+v", cfg)
	}
	if cfg := load(t, project(t, "plugin:\n  call_timeout: 5s\n"), nil); cfg.PluginCallTimeout != 5*time.Second {
		t.Fatalf("plugin.call_timeout from the file: %+v", cfg)
	}
	t.Setenv("PAWL_EXPORT_TIMEOUT", "1h30m")
	if cfg = load(t, root, nil); cfg.ExportTimeout != 90*time.Minute {
		t.Fatalf("environment over file: %+v", cfg)
	}
	t.Setenv("PAWL_EXPORT_TIMEOUT", "")

	// The time window: a day back from the file, none ahead (0 is allowed).
	cfg = load(t, project(t, "time_window:\n  past: 24h\n  future: 0s\n"), nil)
	if cfg.TimeWindowPast != 24*time.Hour || cfg.TimeWindowFuture != 0 {
		t.Fatalf("time window from the file: %+v", cfg)
	}

	// A number alone would be nanoseconds: refused.
	file := filepath.Join(project(t, "export:\n  timeout: 90\n"), File)
	loadErr(t, filepath.Dir(file), nil, file+": export.timeout: 90 has no unit", "90s, 2m")
	t.Setenv("PAWL_EXPORT_TIMEOUT", "soon")
	loadErr(t, root, nil, `environment PAWL_EXPORT_TIMEOUT: export.timeout: "soon" is not a duration`)
	t.Setenv("PAWL_EXPORT_TIMEOUT", "5")
	loadErr(t, root, nil, `PAWL_EXPORT_TIMEOUT: export.timeout: "5" has no unit`)
}

func TestMalformed(t *testing.T) {
	clean(t)
	root := project(t, "workers: many\n")
	file := filepath.Join(root, File)
	loadErr(t, root, nil, file+`: workers: "many" is not a whole number; the default is 0 (one per CPU)`)

	for _, tc := range []struct{ yaml, want string }{
		{"workers: 2.5\n", "workers: 2.5 is not a whole number"},
		{"workers: [1, 2]\n", "workers: [1 2] is not a whole number"},
		{"max_record_bytes: 64MiB\n", `max_record_bytes: "64MiB" is not a whole number`},
		{"policy:\n  require_signature: maybe\n", `policy.require_signature: "maybe" is not a boolean: write true or false`},
		{"policy:\n  key_id: true\n", "policy.key_id: true is not a string: quote it"},
		{"operator: [a]\n", "operator: [a] is not a string"},
		{"workers: 1\nworkers: 2\n", "already defined"},
		{"workers: [\n", File},
	} {
		root := project(t, tc.yaml)
		loadErr(t, root, nil, filepath.Join(root, File)+": ", tc.want)
	}

	// Every malformed value is reported, each with its source.
	t.Setenv("PAWL_EXPORT_TIMEOUT", "big")
	loadErr(t, root, nil, file+`: workers: "many"`, `environment PAWL_EXPORT_TIMEOUT: export.timeout: "big"`)

	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.String("workers", "", "")
	fs.Parse([]string{"--workers=lots"})
	loadErr(t, t.TempDir(), fs, `flag --workers: workers: "lots" is not a whole number`)
}

// TestLenient: what a strict decode still takes.
func TestLenient(t *testing.T) {
	clean(t)
	root := project(t, "max_record_bytes: 1e6\npolicy:\n  key_id: 2024\n  require_signature: true\noperator:\n")
	cfg := load(t, root, nil)
	if cfg.MaxRecordBytes != 1000000 || cfg.PolicyKeyID != "2024" || !cfg.PolicyRequireSignature || cfg.Operator != osUser() {
		t.Fatalf("%+v", cfg)
	}
	t.Setenv("PAWL_WORKERS", " 3 ")
	if cfg := load(t, root, nil); !cfg.PolicyRequireSignature || cfg.Workers != 3 {
		t.Fatalf("%+v", cfg)
	}
}

// TestPinnedSettingsRefusedFromTheEnvironment: the settings pinned in
// pawl.lock (the policy bundle's trust settings and the limits) come from
// pawl.yaml only. PAWL_POLICY_REQUIRE_SIGNATURE=false or a
// PAWL_POLICY_PUBLIC_KEY naming another key would let a bundle the
// project's settings refuse run with nothing on record: each is refused,
// naming the variable, the pin and what to do. The operator, the workers
// and the data and cache directories may still come from the environment.
func TestPinnedSettingsRefusedFromTheEnvironment(t *testing.T) {
	clean(t)
	root := project(t, "policy:\n  require_signature: true\n  public_key: keys/policy.pub\n")
	for _, tc := range []struct{ env, value, pin string }{
		{"PAWL_POLICY_REQUIRE_SIGNATURE", "false", PolicyPin},
		{"PAWL_POLICY_PUBLIC_KEY", "/tmp/attacker.pub", PolicyPin},
		{"PAWL_POLICY_KEY_ID", "attacker", PolicyPin},
		{"PAWL_MAX_RECORD_BYTES", "10", LimitsPin},
		{"PAWL_PLUGIN_CALL_TIMEOUT", "1h", LimitsPin},
		{"PAWL_ESIGN_SESSION_TIMEOUT", "24h", ESignPin},
		{"PAWL_ESIGN_LOCKOUT_AFTER", "1000", ESignPin},
		{"PAWL_ESIGN_PASSPHRASE_MIN_SCORE", "0", ESignPin},
		{"PAWL_ESIGN_PASSPHRASE_MAX_AGE_DAYS", "0", ESignPin},
	} {
		t.Setenv(tc.env, tc.value)
		loadErr(t, root, nil, "environment "+tc.env+": ", "is pinned in pawl.lock ("+tc.pin+")", "set only in pawl.yaml", "unset "+tc.env)
		t.Setenv(tc.env, "")
	}
	// Two at once: both named.
	t.Setenv("PAWL_POLICY_REQUIRE_SIGNATURE", "false")
	t.Setenv("PAWL_POLICY_PUBLIC_KEY", "/tmp/attacker.pub")
	loadErr(t, root, nil, "PAWL_POLICY_REQUIRE_SIGNATURE", "PAWL_POLICY_PUBLIC_KEY")
	t.Setenv("PAWL_POLICY_REQUIRE_SIGNATURE", "")
	t.Setenv("PAWL_POLICY_PUBLIC_KEY", "")

	data := t.TempDir()
	t.Setenv("PAWL_OPERATOR", "op")
	t.Setenv("PAWL_WORKERS", "2")
	t.Setenv("PAWL_DATA_DIR", data)
	t.Setenv("PAWL_CACHE_DIR", "cache")
	cfg := load(t, root, nil)
	if cfg.Operator != "op" || cfg.Workers != 2 || cfg.DataDir != data || cfg.CacheDir != filepath.Join(root, "cache") ||
		!cfg.PolicyRequireSignature || cfg.PolicyPublicKey != "keys/policy.pub" {
		t.Fatalf("%+v", cfg)
	}
	for _, k := range table {
		if k.Pin != "" && k.Flag != "" {
			t.Errorf("%s is pinned and has a flag --%s: a pinned setting comes from pawl.yaml only", k.Name, k.Flag)
		}
		if k.Pin != "" && k.Pin != PolicyPin && k.Pin != LimitsPin && k.Pin != ChangePin && k.Pin != ESignPin {
			t.Errorf("%s: pinned in %q, which is none of %s, %s, %s, %s", k.Name, k.Pin, PolicyPin, LimitsPin, ChangePin, ESignPin)
		}
	}
}

// TestEveryFieldHasOneKey: no setting without a key (as PluginCallTimeout
// was), none with two.
func TestEveryFieldHasOneKey(t *testing.T) {
	var c Config
	v := reflect.ValueOf(&c).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		var keys []string
		for _, k := range table {
			if reflect.ValueOf(k.field(&c)).Pointer() == f.Addr().Pointer() {
				keys = append(keys, k.Name)
			}
		}
		if len(keys) != 1 {
			t.Errorf("Config.%s is set by %d keys %v, want 1", v.Type().Field(i).Name, len(keys), keys)
		}
	}
}

func TestTable(t *testing.T) {
	goType := map[Type]reflect.Type{
		String: reflect.TypeFor[*string](), Path: reflect.TypeFor[*string](),
		Integer: reflect.TypeFor[*int](), Bytes: reflect.TypeFor[*int64](),
		Boolean: reflect.TypeFor[*bool](), Duration: reflect.TypeFor[*time.Duration](),
	}
	seen := map[string]bool{}
	var c Config
	for _, k := range Keys() {
		if seen[k.Name] || seen[k.Env] {
			t.Errorf("%s: twice", k.Name)
		}
		seen[k.Name], seen[k.Env] = true, true
		if k.Name != strings.ToLower(k.Name) || strings.ContainsAny(k.Name, " -") {
			t.Errorf("%s: keys are lower case, with _ between words", k.Name)
		}
		if got := reflect.TypeOf(k.field(&c)); got != goType[k.Type] {
			t.Errorf("%s: type %s, field %s", k.Name, k.Type, got)
		}
		if k.Doc == "" || strings.Contains(k.Doc, "\n\n") || k.Default == "" {
			t.Errorf("%s: wants one paragraph of doc and a documented default", k.Name)
		}
		// A default written out reads back as the default.
		if k.defaultText == "" && k.def != "" {
			v := reflect.New(reflect.TypeOf(k.field(&c)).Elem())
			written := strings.Split(k.Default, "`")[1] // the first code span
			if err := set(v.Interface(), written); err != nil {
				t.Errorf("%s: documented default %s: %v", k.Name, k.Default, err)
			} else if v.Elem().Interface() != get(k.field(ptr(Defaults()))) {
				t.Errorf("%s: documented default %s reads as %v", k.Name, k.Default, v.Elem())
			}
		}
	}
}

func ptr(c Config) *Config { return &c }

// TestFlatDottedKey: viper also takes a dotted key written flat.
func TestFlatDottedKey(t *testing.T) {
	clean(t)
	cfg := load(t, project(t, "export.timeout: 90s\n"), nil)
	if cfg.ExportTimeout != 90*time.Second {
		t.Fatalf("%+v", cfg)
	}
}
