package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// File is the name of the configuration file at a project's root.
const File = "pawl.yaml"

// Precedence is the order in which the sources of a setting override each
// other, strongest first.
const Precedence = "command-line flags > `PAWL_*` environment > `pawl.yaml` > defaults"

// Config is the resolved configuration of a project. Each field is set by
// exactly one key of the table in keys.go, which documents it; Keys lists
// them and docs/configuration.md is generated from them.
type Config struct {
	DataDir        string
	Operator       string
	Workers        int
	MaxRecordBytes int64
	CacheDir       string
	CacheMaxBytes  int64

	PluginCallTimeout        time.Duration
	BatchTimeout             time.Duration
	BatchMaxQuarantineGrowth int

	TimeWindowPast   time.Duration
	TimeWindowFuture time.Duration

	PolicyRequireSignature bool
	PolicyPublicKey        string
	PolicyKeyID            string
	ChangeTwoPerson        bool
	ChangeContractEvidence int

	ExportCAFile  string
	ExportTimeout time.Duration
	// WatchInterval is how often the gate scans the sources' inboxes.
	WatchInterval time.Duration
	// NoticeTimeout bounds one attempt to deliver a notice.
	NoticeTimeout time.Duration

	OpenLineageEnabled   bool
	OpenLineageFile      string
	OpenLineageNamespace string
	OpenLineageURL       string

	ESignPassphraseMinScore   int
	ESignPassphraseMaxAgeDays int
	ESignLockoutAfter         int
	ESignSessionTimeout       time.Duration

	ServeSocket         string
	ServeGroup          string
	ServeHTTPSListen    string
	ServeHTTPSCert      string
	ServeHTTPSKey       string
	ServeHTTPSClientCA  string
	EngineKeySecretFile string

	NetworkHub         string
	NetworkSite        string
	NetworkCredentials string
	NetworkCA          string
	NetworkLeaf        bool

	NetworkLeafReconnect  time.Duration
	DistributeNATS        string
	DistributeCredentials string
	DistributeCA          string
	DistributeIdleTimeout time.Duration
}

// Defaults returns every key at its default. Two defaults depend on the
// machine: Operator is the OS user, and CacheDir is pawl/ under the user's
// cache directory, or "" when there is none (Load then takes
// <data_dir>/cache, which needs the project root).
func Defaults() Config {
	var c Config
	for _, k := range table {
		if err := set(k.field(&c), k.def); err != nil {
			panic("config: default of " + k.Name + ": " + err.Error())
		}
	}
	c.Operator = osUser()
	c.CacheDir = userCacheDir()
	return c
}

// Validate checks every key of c and reports every bad one: the key, the
// bad value and what to do.
func (c Config) Validate() error {
	var errs []error
	for _, k := range table {
		if m := k.problem(c); m != "" {
			errs = append(errs, errors.New(m))
		}
	}
	return errors.Join(errs...)
}

func (k Key) problem(c Config) string {
	if k.check == nil {
		return ""
	}
	return k.check(k, c)
}

// Load resolves the configuration of the project at root: flags >
// PAWL_* environment > root/pawl.yaml > defaults. pawl.yaml is optional. Only
// the keys that have a Flag read flags, and only flags that were set on the
// command line; flags may be nil. A pinned key (Key.Pin) comes from
// pawl.yaml or its default only: its environment variable, when set, is an
// error that says so. Unknown keys in pawl.yaml, malformed
// values and invalid ones are errors that name where the value came from
// (the file, the environment variable or the flag), the key and what to do.
//
// The Config returned has every default filled in: an empty operator is the
// OS user, an empty cache_dir the default cache directory; a relative
// cache_dir is taken relative to root. The other paths stay as written.
func Load(root string, flags *pflag.FlagSet) (Config, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return Config{}, err
	}
	file := filepath.Join(root, File)
	v := viper.New()
	v.SetConfigFile(file)
	v.SetConfigType("yaml")
	def := Defaults()
	var errs []error
	for _, k := range table {
		v.SetDefault(k.Name, get(k.field(&def)))
		if k.Pin != "" {
			// A pinned setting comes from pawl.yaml only: an override from
			// the environment would change an outcome (or what a decision
			// vouches for) with nothing on record.
			if os.Getenv(k.Env) != "" {
				errs = append(errs, fmt.Errorf("environment %s: %s is pinned in %s (%s) and is set only in %s, where `pawl pin` puts a change of it on record: unset %s",
					k.Env, k.Name, "pawl.lock", k.Pin, File, k.Env))
			}
			continue
		}
		if err := v.BindEnv(k.Name, k.Env); err != nil {
			return Config{}, err
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	if err := v.ReadInConfig(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Config{}, fmt.Errorf("%s: %v", file, err)
	}
	if err := unknownKeys(v, file); err != nil {
		return Config{}, err
	}
	given := map[string]*pflag.Flag{} // key name: its flag, given on the command line
	if flags != nil {
		for _, k := range table {
			if k.Flag == "" {
				continue
			}
			if f := flags.Lookup(k.Flag); f != nil && f.Changed {
				if err := v.BindPFlag(k.Name, f); err != nil {
					return Config{}, err
				}
				given[k.Name] = f
			}
		}
	}
	source := func(k Key) string {
		if f := given[k.Name]; f != nil {
			return "flag --" + f.Name
		}
		if k.Pin == "" && os.Getenv(k.Env) != "" { // viper ignores an empty variable too
			return "environment " + k.Env
		}
		if v.InConfig(k.Name) {
			return file
		}
		return "default"
	}

	var c Config
	for _, k := range table {
		if err := k.decode(&c, v.Get(k.Name)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source(k), err))
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	if c.Operator == "" {
		c.Operator = def.Operator
	}
	switch {
	case c.CacheDir == "" && def.CacheDir != "":
		c.CacheDir = def.CacheDir
	case c.CacheDir == "":
		data := c.DataDir
		if !filepath.IsAbs(data) {
			data = filepath.Join(root, data)
		}
		c.CacheDir = filepath.Join(data, "cache")
	case !filepath.IsAbs(c.CacheDir):
		c.CacheDir = filepath.Join(root, c.CacheDir)
	}
	for _, k := range table {
		if m := k.problem(c); m != "" {
			errs = append(errs, fmt.Errorf("%s: %s", source(k), m))
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// unknownKeys refuses keys of the file that are not in the table: the
// defaults, environment and flags viper knows of all come from the table.
func unknownKeys(v *viper.Viper, file string) error {
	known := map[string]bool{}
	names := make([]string, len(table))
	for i, k := range table {
		known[k.Name] = true
		names[i] = k.Name
	}
	var unknown []string
	for _, k := range v.AllKeys() {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("%s: unknown key(s) %s (known: %s; see docs/configuration.md)",
		file, strings.Join(unknown, ", "), strings.Join(names, ", "))
}

// decode sets k's field of c from raw, a value as viper found it: typed
// from the defaults and YAML, a string from the environment and most
// flags, an int or bool from int and bool flags. It is stricter than a
// weakly typed decode: no fraction for a whole number, no unit-less
// duration, no number or boolean taken as a string unquoted.
func (k Key) decode(c *Config, raw any) error {
	if err := set(k.field(c), raw); err != nil {
		return fmt.Errorf("%s: %v %s; the default is %s", k.Name, quote(raw), err, plain(k.Default))
	}
	return nil
}

func quote(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%v", v)
}

// set stores raw in the field p points to. Its error says what raw is not,
// and what to write.
func set(p any, raw any) error {
	switch p := p.(type) {
	case *string:
		switch r := raw.(type) {
		case string:
			*p = r
		case int, int64, uint64:
			*p = fmt.Sprint(r)
		case nil:
			*p = ""
		default:
			return errors.New("is not a string: quote it")
		}
	case *bool:
		switch r := raw.(type) {
		case bool:
			*p = r
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(r))
			if err != nil {
				return errors.New("is not a boolean: write true or false")
			}
			*p = b
		default:
			return errors.New("is not a boolean: write true or false")
		}
	case *int:
		n, err := whole(raw)
		if err != nil {
			return err
		}
		if n < math.MinInt || n > math.MaxInt {
			return errors.New("is out of range")
		}
		*p = int(n)
	case *int64:
		n, err := whole(raw)
		if err != nil {
			return err
		}
		*p = n
	case *time.Duration:
		switch r := raw.(type) {
		case time.Duration:
			*p = r
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(r))
			if err != nil {
				if _, nerr := strconv.ParseFloat(strings.TrimSpace(r), 64); nerr == nil {
					return errors.New("has no unit: write e.g. 90s, 2m or 1h30m")
				}
				return errors.New("is not a duration: write e.g. 90s, 2m or 1h30m")
			}
			*p = d
		case int, int64, uint64, float64:
			return errors.New("has no unit: write e.g. 90s, 2m or 1h30m")
		default:
			return errors.New("is not a duration: write e.g. 90s, 2m or 1h30m")
		}
	default:
		panic(fmt.Sprintf("config: field of type %T", p))
	}
	return nil
}

// whole is raw as a whole number.
func whole(raw any) (int64, error) {
	bad := errors.New("is not a whole number")
	switch r := raw.(type) {
	case int:
		return int64(r), nil
	case int64:
		return r, nil
	case uint64:
		if r > math.MaxInt64 {
			return 0, errors.New("is out of range")
		}
		return int64(r), nil
	case float64: // YAML's 1e6
		if r != math.Trunc(r) || r < math.MinInt64 || r >= math.MaxInt64 {
			return 0, bad
		}
		return int64(r), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(r), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, errors.New("is out of range")
		}
		if err != nil {
			return 0, bad
		}
		return n, nil
	}
	return 0, bad
}

// get is the value p points to.
func get(p any) any {
	switch p := p.(type) {
	case *string:
		return *p
	case *bool:
		return *p
	case *int:
		return *p
	case *int64:
		return *p
	case *time.Duration:
		return *p
	}
	panic(fmt.Sprintf("config: field of type %T", p))
}

// osUser is the operator by default: the OS account's name.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if s := os.Getenv("USER"); s != "" {
		return s
	}
	return "unknown"
}

// userCacheDir is the default cache_dir, or "" when the user has no cache
// directory.
func userCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "pawl")
}
