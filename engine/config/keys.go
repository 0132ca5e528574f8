package config

import (
	"fmt"
	"strings"
	"time"
)

// Type is the kind of value a key takes.
type Type string

// The types of keys.
const (
	String   Type = "string"
	Path     Type = "path"     // a file or directory; relative to the project root unless absolute
	Integer  Type = "integer"  // a whole number
	Bytes    Type = "bytes"    // a whole number of bytes
	Boolean  Type = "boolean"  // true or false
	Duration Type = "duration" // a number with a unit: 90s, 2m, 1h30m
)

// Key is one configuration key.
type Key struct {
	// Name is the key as pawl.yaml writes it, dotted for nesting:
	// "policy.public_key" is public_key under policy.
	Name string
	// Env is the environment variable that sets it: PAWL_ and the name in
	// capitals with "_" for ".".
	Env string
	// Type is the kind of value it takes.
	Type Type
	// Default is the default as the documentation shows it.
	Default string
	// Flag is the command-line flag that overrides it (without "--"), or ""
	// when no flag does.
	Flag string
	// Doc says what the key does, in one paragraph.
	Doc string
	// Pin is the pseudo-file of pawl.lock the key's value is pinned in
	// (PolicyPin or LimitsPin), or "" when it is not pinned. A pinned key
	// can change an outcome or what the trail can vouch for: it is set in
	// pawl.yaml (or left at its default) and nowhere else, a run refuses it
	// when it differs from its pin, and `pawl pin` puts its change on
	// record. Load refuses it from the environment, and no flag sets it.
	Pin string

	def         any                          // the default value, of the field's type; see Defaults for operator and cache_dir
	defaultText string                       // the documented default, when it is not def written out
	field       func(c *Config) any          // a pointer to the key's field in c
	check       func(k Key, c Config) string // what is wrong with the key's value in c, or ""
}

// The pseudo-files of pawl.lock that pin the settings of pawl.yaml that can
// change an outcome: the policy bundle's trust settings (with the public
// key file's content) and the limits a batch runs under.
const (
	PolicyPin = File + "#policy"
	LimitsPin = File + "#limits"
	// ChangePin pins the change-control settings (change.two_person):
	// whether a change of the guarded pins needs a second person.
	ChangePin = File + "#change"
	// ESignPin pins the e-signature settings that decide what a signing
	// and a passphrase need (esign.session_timeout, esign.lockout_after,
	// esign.passphrase_min_score, esign.passphrase_max_age_days).
	ESignPin = File + "#esign"
)

// table is the list of keys: the only place it is written. Viper's
// defaults and environment bindings, the unknown-key error, the validation
// and docs/configuration.md are all derived from it.
var table = build([]Key{
	{
		Name: "data_dir", Type: Path, def: ".pawl",
		field: func(c *Config) any { return &c.DataDir },
		check: func(k Key, c Config) string {
			if c.DataDir == "" {
				return k.Name + " is empty: name a directory, or remove the key for the default " + plain(k.Default)
			}
			return ""
		},
		Doc: "Where pawl keeps the audit trail, the content-addressed store, the batches and the keys. " +
			"Relative to the project root unless absolute. Back it up as a whole; never edit it by hand.",
	},
	{
		Name: "operator", Type: String, def: "", defaultText: "the OS user", Flag: "operator",
		field: func(c *Config) any { return &c.Operator },
		Doc: "Operator id recorded in the audit trail as performing an action. " +
			"It identifies; it does not authenticate (e-signatures do). Empty: the default.",
	},
	{
		Name: "workers", Type: Integer, def: 0, defaultText: "`0` (one per CPU)", Flag: "workers",
		field: func(c *Config) any { return &c.Workers },
		check: func(k Key, c Config) string {
			if c.Workers < 0 {
				return fmt.Sprintf("%s = %d: must be 0 (one worker per CPU) or more", k.Name, c.Workers)
			}
			return ""
		},
		Doc: "Worker goroutines for a run; 0 is one per CPU. Output never depends on it: " +
			"the same inputs give the same batches whatever the setting.",
	},
	{
		Name: "max_record_bytes", Type: Bytes, def: int64(64 << 20), Pin: LimitsPin,
		field: func(c *Config) any { return &c.MaxRecordBytes },
		check: func(k Key, c Config) string {
			if c.MaxRecordBytes <= 0 {
				return fmt.Sprintf("%s = %d: must be a positive number of bytes; the default is %s",
					k.Name, c.MaxRecordBytes, plain(k.Default))
			}
			return ""
		},
		Doc: "Largest record, in bytes. A longer record is quarantined without being read into memory, " +
			"so this also bounds the memory one record can take.",
	},
	{
		Name: "cache_dir", Type: Path, def: "",
		defaultText: "`pawl` under the user's cache directory (`$XDG_CACHE_HOME` or `~/.cache` on Linux); `<data_dir>/cache` when there is none",
		field:       func(c *Config) any { return &c.CacheDir },
		Doc: "Where compiled plugin code is kept: a private directory (0700), one entry per project and module sha256, " +
			"used only when its MAC under the project's `keys/cache.key` matches (otherwise deleted, compiled afresh and on record). " +
			"Projects of one user share it, each with entries of its own, so a project's first run after a new plugin compiles it. " +
			"Beside it, MACed by the same key: the executable's sha256 by file identity (`exe/`) and the policy bundles that passed their check under this build (`policy/`). " +
			"Relative to the project root unless absolute. Empty: the default.",
	},
	{
		Name: "cache_max_bytes", Type: Bytes, def: int64(1 << 30),
		field: func(c *Config) any { return &c.CacheMaxBytes },
		check: func(k Key, c Config) string {
			if c.CacheMaxBytes < -1 || c.CacheMaxBytes == 0 {
				return fmt.Sprintf("%s = %d: must be a positive number of bytes, or -1 for no cap; the default is %s",
					k.Name, c.CacheMaxBytes, plain(k.Default))
			}
			return ""
		},
		Doc: "The most compiled plugin code `cache_dir` keeps, over every project that shares it. When a run compiles a plugin " +
			"and the cache holds more, the entries used longest ago are deleted (a deleted entry costs its next run a compilation, " +
			"never a result: nothing unMACed runs); an entry a run is loading is kept. -1: no cap.",
	},
	{
		Name: "openlineage.enabled", Type: Boolean, def: true,
		field: func(c *Config) any { return &c.OpenLineageEnabled },
		Doc: "Write OpenLineage run events for every batch (a START, then a COMPLETE or a FAIL) to `openlineage.file`. " +
			"They hold no record bytes: the input's name, digest and size, the schema's top-level fields, and counts per stage and per rule. " +
			"The trail stays the record; the events are a view of it for a lineage service.",
	},
	{
		Name: "openlineage.file", Type: Path, def: "", defaultText: "`openlineage.jsonl` in the data directory",
		field: func(c *Config) any { return &c.OpenLineageFile },
		Doc: "The JSON Lines file OpenLineage events are appended to, one event per line, synced after each batch's events. " +
			"Relative to the project root unless absolute. Empty: the default.",
	},
	{
		Name: "openlineage.url", Type: String, def: "",
		field: func(c *Config) any { return &c.OpenLineageURL },
		check: func(k Key, c Config) string {
			u := c.OpenLineageURL
			if u != "" && (!strings.HasSuffix(u, "/") || !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "file://")) {
				return k.Name + " is " + plain(u) + ": give the lineage service's base URL, https://…/ ending in \"/\" (events are POSTed to its api/v1/lineage), or a file:// outbox directory ending in \"/\""
			}
			return ""
		},
		Doc: "Where the OpenLineage events are also sent, as egress (`kind: lineage`, purpose `lineage`): a lineage service's base URL, `https://…/` (each event POSTed to `api/v1/lineage` below it, the OpenLineage HTTP transport), or a `file://` outbox directory (one `<batch>-<offset>.openlineage.jsonl` file per batch's events, for an air gap). " +
			"Each batch's events are a policy decision on record (its classification against the whitelist); denied events are skipped, undelivered ones stay pending and are retried after `pawl run`, `pawl watch` and the service's scans, with a pause that doubles from 5 s to an hour. Empty: the events stay in `openlineage.file`.",
	},
	{
		Name: "openlineage.namespace", Type: String, def: "pawl",
		field: func(c *Config) any { return &c.OpenLineageNamespace },
		check: func(k Key, c Config) string {
			if c.OpenLineageNamespace == "" {
				return k.Name + " is empty: name the namespace the jobs and datasets appear under in the lineage service, or remove the key for " + plain(k.Default)
			}
			return ""
		},
		Doc: "The OpenLineage namespace of the project's jobs and datasets: a job appears as NAMESPACE/JOB, " +
			"its datasets as JOB/input, JOB/verified and JOB/quarantine. Give each site or project its own.",
	},
	{
		Name: "plugin.call_timeout", Type: Duration, def: 30 * time.Second, Pin: LimitsPin,
		field: func(c *Config) any { return &c.PluginCallTimeout },
		check: positive(func(c Config) time.Duration { return c.PluginCallTimeout }),
		Doc: "Bound on one plugin call (instantiation, initialisation, or one chunk of records). " +
			"A plugin that runs longer fails the batch: the failure is audited and nothing is committed.",
	},
	{
		Name: "batch.timeout", Type: Duration, def: time.Duration(0), Pin: LimitsPin, defaultText: "`0` (none)",
		field: func(c *Config) any { return &c.BatchTimeout },
		check: notNegative(func(c Config) time.Duration { return c.BatchTimeout }),
		Doc: "Bound on a whole batch, from its first record to its commit point (`pawl run`, a resubmission, a replay). " +
			"A batch that runs longer fails: the failure is audited, naming this limit, and nothing is committed. `0`: no bound.",
	},
	{
		Name: "batch.max_quarantine_growth", Type: Integer, def: 32, Pin: LimitsPin,
		field: func(c *Config) any { return &c.BatchMaxQuarantineGrowth },
		check: between(1, 1000000, func(c Config) int { return c.BatchMaxQuarantineGrowth }),
		Doc: "Bound on a batch's quarantine: at most this many times the input's bytes, plus 1 MiB. A batch whose quarantine grows " +
			"past it (millions of tiny records each with several reasons, say) fails naming this limit, on record, and nothing is " +
			"committed: most of its records fail the same way, and the input or the contract needs fixing first.",
	},
	{
		Name: "policy.require_signature", Type: Boolean, def: false, Pin: PolicyPin,
		field: func(c *Config) any { return &c.PolicyRequireSignature },
		Doc: "Refuse a policy bundle that is unsigned, tampered with, or signed by another key than " +
			"`policy.public_key` (which must then be set).",
	},
	{
		Name: "policy.public_key", Type: Path, def: "", defaultText: "none", Pin: PolicyPin,
		field: func(c *Config) any { return &c.PolicyPublicKey },
		Doc: "PEM public key that signed policy bundles are verified with (`pawl policy keygen` makes a pair). " +
			"Relative to the project root unless absolute. The key file's content is pinned with the setting, " +
			"and every decision records the fingerprint of the key that verified its bundle.",
	},
	{
		Name: "policy.key_id", Type: String, def: "pawl-policy", Pin: PolicyPin,
		field: func(c *Config) any { return &c.PolicyKeyID },
		Doc:   "Key id that policy bundle signatures carry, and are checked for.",
	},
	{
		Name: "change.two_person", Type: Boolean, def: true, Pin: ChangePin,
		field: func(c *Config) any { return &c.ChangeTwoPerson },
		Doc: "The two-person rule: a change of the policy bundle (a plugin approval, an edited policy), of the `policy.*` " +
			"settings, of the limits or of this setting, found by `pawl pin`, takes effect only after a second enrolled operator " +
			"e-signs it (`pawl change approve`); until then it is a `change.proposed` entry and nothing is in force. " +
			"`false` is the one-person escape hatch (a lone operator, the demo, tests): such changes are applied at once and the " +
			"`pin.changed` entry says the rule was waived. What is in force is the value pinned, not the file: turning the rule off " +
			"is itself a change that needs the second person. Set it at `pawl init --single-person`, or in pawl.yaml.",
	},
	{
		Name: "change.contract_evidence", Type: Integer, def: 1000, Pin: ChangePin,
		field: func(c *Config) any { return &c.ChangeContractEvidence },
		check: between(0, 1000000000, func(c Config) int { return c.ChangeContractEvidence }),
		Doc: "The arbiter: how many records past batches quarantined the empirical check at `pawl pin` judges again before it " +
			"clears a change of a job's contract that no static rule decides (a changed pattern, a new plugin version). If one of " +
			"them would now pass, the change is a proven weakening; if none would and at least this many were judged, it is pinned " +
			"like a tightening; with fewer on record it is held like a weakening (`pawl pin --weaken` and a second person). " +
			"`0`: every such change is held.",
	},
	{
		Name: "time_window.past", Type: Duration, def: 7 * 24 * time.Hour,
		field: func(c *Config) any { return &c.TimeWindowPast },
		check: notNegative(func(c Config) time.Duration { return c.TimeWindowPast }),
		Doc: "How far before now a time given on the command line (`pawl run --as-of`, `pawl export --time`) may be " +
			"without a reason. An earlier time is refused unless `--reason` says why; with one, the batch record or the " +
			"export record says the time was outside the window and records the window. " +
			"The default, a week, covers a batch stamped with the day its data was collected when it is loaded days " +
			"later (a weekend, a late delivery, a rerun after an outage); anything older is a back-dating someone must explain.",
	},
	{
		Name: "time_window.future", Type: Duration, def: time.Hour,
		field: func(c *Config) any { return &c.TimeWindowFuture },
		check: notNegative(func(c Config) time.Duration { return c.TimeWindowFuture }),
		Doc: "How far after now a time given on the command line may be without a reason, as `time_window.past` " +
			"is before it. The default, an hour, absorbs a time read from another machine's clock or rounded up; " +
			"a time further ahead (a wrong year, a local time written as UTC) needs `--reason`.",
	},
	{
		Name: "export.ca_file", Type: Path, def: "", defaultText: "none: the system's roots",
		field: func(c *Config) any { return &c.ExportCAFile },
		Doc: "PEM bundle of the certificate authorities that https export destinations are verified against, " +
			"instead of the system's roots. Relative to the project root unless absolute.",
	},
	{
		Name: "export.timeout", Type: Duration, def: 2 * time.Minute,
		field: func(c *Config) any { return &c.ExportTimeout },
		check: positive(func(c Config) time.Duration { return c.ExportTimeout }),
		Doc:   "Bound on each request of an https export.",
	},
	{
		Name: "watch.interval", Type: Duration, def: 2 * time.Second, Flag: "interval",
		field: func(c *Config) any { return &c.WatchInterval },
		check: positive(func(c Config) time.Duration { return c.WatchInterval }),
		Doc: "How often the gate (`pawl watch`, `pawl serve`) scans the inboxes of the jobs' `sources:` for complete files, " +
			"and retries the notices due for another attempt. Polling, not inotify: it works on every filesystem, NFS included.",
	},
	{
		Name: "notice.timeout", Type: Duration, def: 10 * time.Second,
		field: func(c *Config) any { return &c.NoticeTimeout },
		check: positive(func(c Config) time.Duration { return c.NoticeTimeout }),
		Doc: "Bound on one attempt to deliver a notice (a quarantine report to a source's `notify` destination). " +
			"The gate holds the project lock while it delivers, so a destination that does not answer holds up runs for at most this long; " +
			"an attempt that times out leaves the notice queued, retried later with a growing pause (up to an hour between attempts).",
	},
	{
		Name: "esign.passphrase_min_score", Type: Integer, def: 3, Pin: ESignPin,
		field: func(c *Config) any { return &c.ESignPassphraseMinScore },
		check: between(0, 4, func(c Config) int { return c.ESignPassphraseMinScore }),
		Doc: "Least strength, 0 to 4, an operator's passphrase must score when it is set (`pawl operator add`, `pawl operator passwd`), " +
			"as zxcvbn estimates it with the operator's id, printed name and every year (and, on a change, the old passphrase) counted as known to an attacker: " +
			"a score of 1 means at least 10^3 guesses, 2 at least 10^6, 3 at least 10^8, 4 at least 10^10. 0 checks only the length (12 characters).",
	},
	{
		Name: "esign.passphrase_max_age_days", Type: Integer, def: 90, Pin: ESignPin,
		field: func(c *Config) any { return &c.ESignPassphraseMaxAgeDays },
		check: between(0, 36500, func(c Config) int { return c.ESignPassphraseMaxAgeDays }),
		Doc: "Days an operator's passphrase may be used to sign, counted from the audit entry that set it (the enrolment or the last " +
			"`pawl operator passwd`), never from file times. An older one is refused (and the attempt recorded) until it is changed. 0: passphrases never expire.",
	},
	{
		Name: "esign.lockout_after", Type: Integer, def: 5, Pin: ESignPin,
		field: func(c *Config) any { return &c.ESignLockoutAfter },
		check: between(1, 1000, func(c Config) int { return c.ESignLockoutAfter }),
		Doc: "Consecutive wrong passphrases (at signing, or the old one at `pawl operator passwd`), counted from the audit trail since the operator's last signature, " +
			"passphrase change or unlock, after which the operator is locked: an `operator.locked` entry is the alert, and every later attempt is " +
			"refused, even with the right passphrase, until `pawl operator unlock`.",
	},
	{
		Name: "esign.session_timeout", Type: Duration, def: 15 * time.Minute, Pin: ESignPin,
		field: func(c *Config) any { return &c.ESignSessionTimeout },
		check: func(k Key, c Config) string {
			if d := c.ESignSessionTimeout; d < 0 || d > 24*time.Hour {
				return fmt.Sprintf("%s = %s: must be from 0 (no sessions) to 24h; the default is %s", k.Name, formatDuration(d), plain(k.Default))
			}
			return ""
		},
		Doc: "The signing session of 21 CFR 11.200(a)(1)(i): after a signing with every component (`pawl sign --operator ID`, and the passphrase), " +
			"the same account may sign again without `--operator` — the passphrase is still asked — until this long passes without a signing " +
			"(counted from the audit trail's entries), `pawl session end`, or the operator is locked, revoked or their passphrase expires. " +
			"0: no sessions, every signing uses every component (11.200(a)(1)(ii)). " +
			"The default, 15 minutes, is the idle time after which workstation policies commonly lock a screen: a signer who steps away longer starts again with their id. " +
			"Pinned: the timeout in force is the one `pawl pin` put on record (a change is a proposal a second person approves); a project whose pins have none has no sessions.",
	},
	{
		Name: "serve.socket", Type: Path, def: "", defaultText: "`pawl.sock` in the project root",
		field: func(c *Config) any { return &c.ServeSocket },
		Doc: "The Unix socket `pawl serve` listens on, and where the CLI looks for a service when neither `--server` nor `PAWL_SERVER` names one: " +
			"a command run in a project whose socket exists is sent to the service. Relative to the project root unless absolute. Empty: the default.",
	},
	{
		Name: "serve.group", Type: String, def: "",
		field: func(c *Config) any { return &c.ServeGroup },
		Doc: "The group `pawl serve` gives its socket, mode 0660, so that the group's members may connect (what each may do is the policy's `authz` question). " +
			"The service's account must be a member. Empty: the socket is mode 0600, for the service's account (and root) only.",
	},
	{
		Name: "serve.https.listen", Type: String, def: "",
		field: func(c *Config) any { return &c.ServeHTTPSListen },
		Doc: "The `host:port` on which `pawl serve` also accepts commands over HTTPS (TLS 1.3, HTTP/2), from clients with a certificate issued by `serve.https.client_ca`. " +
			"A connection acts as the certificate's SHA-256 fingerprint, which `pawl operator add --cert` binds an operator to. " +
			"Empty: no HTTPS, the Unix socket only. Set it together with `serve.https.cert`, `serve.https.key` and `serve.https.client_ca`.",
	},
	{
		Name: "serve.https.cert", Type: Path, def: "",
		field: func(c *Config) any { return &c.ServeHTTPSCert },
		Doc:   "The service's certificate chain (PEM) for HTTPS, for the name or address clients reach it by. Relative to the project root unless absolute.",
	},
	{
		Name: "serve.https.key", Type: Path, def: "",
		field: func(c *Config) any { return &c.ServeHTTPSKey },
		Doc: "The private key (PEM) of `serve.https.cert`. It must be owned by the service's account and closed to group and others, " +
			"or `pawl serve` refuses to start and says what to run. Relative to the project root unless absolute.",
	},
	{
		Name: "serve.https.client_ca", Type: Path, def: "",
		field: func(c *Config) any { return &c.ServeHTTPSClientCA },
		Doc: "The certificates (PEM) of the CAs whose client certificates `pawl serve` admits over HTTPS; any other client is refused at the TLS handshake " +
			"(and the refusal logged). Admission is not authority: what a client may do is what the operator bound to its certificate's fingerprint may do. " +
			"Relative to the project root unless absolute.",
	},
	{
		Name: "engine_key.secret_file", Type: Path, def: "", defaultText: "none: `$CREDENTIALS_DIRECTORY/pawl-engine-key` when that systemd credential exists",
		field: func(c *Config) any { return &c.EngineKeySecretFile },
		Doc: "File holding the secret (at least 32 random bytes, readable by its owner only) under which the engine's private key " +
			"is sealed at rest (AES-256-GCM, the key derived with HKDF-SHA256). Relative to the project root unless absolute. " +
			"Unset, pawl takes the systemd credential `pawl-engine-key` (`LoadCredential=` or `LoadCredentialEncrypted=` in the unit) when there is one. " +
			"With a secret, `pawl key rotate` writes the new key sealed; a sealed key does not open without it. Keep the secret away from backups of the data directory.",
	},
	{
		Name: "network.hub", Type: String, def: "",
		field: func(c *Config) any { return &c.NetworkHub },
		Doc: "The network's hub (`tls://host:port`, NATS with TLS) to which `pawl serve` publishes, after each commit, the trail's signed checkpoint and its consistency proof " +
			"(each publication decided by the policy, kind `network`, against `data.egress.network.hub`). Empty: the site is in no network. " +
			"Set it together with `network.site`, `network.credentials` and `network.ca` (README, \"Many sites\").",
	},
	{
		Name: "network.site", Type: String, def: "",
		field: func(c *Config) any { return &c.NetworkSite },
		check: func(k Key, c Config) string {
			for _, r := range c.NetworkSite {
				if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
					return fmt.Sprintf("%s = %q: a site id is letters, digits, '-' and '_' (it is a NATS subject token)", k.Name, c.NetworkSite)
				}
			}
			return ""
		},
		Doc: "This site's id in the network: its messages go to `pawl.site.<id>.checkpoint`, the only subjects its credentials may publish to. Letters, digits, `-` and `_`.",
	},
	{
		Name: "network.credentials", Type: Path, def: "",
		field: func(c *Config) any { return &c.NetworkCredentials },
		Doc: "The file holding this site's NATS nkey seed (`SU…`, from `pawl network credentials`), by which the hub knows the site. " +
			"It must be owned by the service's account and closed to group and others. Relative to the project root unless absolute.",
	},
	{
		Name: "network.ca", Type: Path, def: "",
		field: func(c *Config) any { return &c.NetworkCA },
		Doc:   "The certificates (PEM) of the CA that issued the hub's TLS certificate. Relative to the project root unless absolute.",
	},
	{
		Name: "network.leaf", Type: Boolean, def: false,
		field: func(c *Config) any { return &c.NetworkLeaf },
		Doc: "Run this site's own leaf node: `pawl serve` starts an embedded NATS server with JetStream in the site's own domain (its id), " +
			"stores each publication in its outbox stream there (under the data directory, `network/`), and connects to the hub's leaf-node port " +
			"(`network.hub` is then `tls://host:<leaf_listen port>`) with the site's nkey and TLS; the hub's stream for the site sources from the outbox, " +
			"so what the site published while the link was down reaches the hub when it returns, with nobody re-sending. " +
			"False: each publication connects straight to the hub and must reach it (README, \"Many sites\", says when to choose which).",
	},
	{
		Name: "network.leaf_reconnect", Type: Duration, def: time.Second,
		field: func(c *Config) any { return &c.NetworkLeafReconnect },
		Doc: "How often the leaf node (`network.leaf`) tries the hub while the link is down. The hub's stream asks a leaf for its outbox when the hub starts and, " +
			"if the leaf has not linked up by then, again only after a back-off of seconds: a shorter interval lets the outbox drain sooner after the hub returns, " +
			"for one connection attempt per interval while it is down.",
	},
	{
		Name: "distribute.nats", Type: String, def: "",
		field: func(c *Config) any { return &c.DistributeNATS },
		check: func(k Key, c Config) string {
			u := c.DistributeNATS
			if u != "" && !strings.HasPrefix(u, "tls://") && !strings.HasPrefix(u, "nats://") {
				return fmt.Sprintf("%s = %q: want the site's NATS server as tls://HOST:PORT (or nats://HOST:PORT on a trusted network)", k.Name, u)
			}
			return ""
		},
		Doc: "Run `pawl run`'s batches distributed (the inbox gate's, `pawl watch` and `pawl serve`, still run on this machine): their records go, chunk by chunk, through a NATS JetStream work queue on this server to `pawl worker` processes on other machines, " +
			"which run the stateless stages; this process stays the committer (outputs, lineage root and batch id are those of a run on one machine). " +
			"Each batch is a policy decision on record (kind `distribute`, against `data.egress.workers`; docs/policy-guide.md). " +
			"Empty: batches run on this machine. `pawl run --distribute URL` does it for one run (README, \"Workers\").",
	},
	{
		Name: "distribute.credentials", Type: Path, def: "",
		field: func(c *Config) any { return &c.DistributeCredentials },
		Doc: "The file holding the committer's NATS nkey seed (`SU…`, from `pawl network credentials`), when the server asks for one. " +
			"It must be owned by this account and closed to group and others. Relative to the project root unless absolute.",
	},
	{
		Name: "distribute.ca", Type: Path, def: "",
		field: func(c *Config) any { return &c.DistributeCA },
		Doc:   "The certificates (PEM) of the CA that issued the NATS server's TLS certificate (`distribute.nats` = `tls://…`). Relative to the project root unless absolute.",
	},
	{
		Name: "distribute.idle_timeout", Type: Duration, def: 60 * time.Second,
		field: func(c *Config) any { return &c.DistributeIdleTimeout },
		check: positive(func(c Config) time.Duration { return c.DistributeIdleTimeout }),
		Doc: "How long a distributed batch waits, while its chunks wait in the queue, for a worker to take one (or for an outcome) " +
			"before it fails, nothing committed, with a reason on record that says to start `pawl worker`.",
	},
})

// Keys returns every key, in the order the documentation lists them.
func Keys() []Key {
	return append([]Key(nil), table...)
}

// build derives what the table does not write: the environment variable
// and the documented default.
func build(keys []Key) []Key {
	for i := range keys {
		k := &keys[i]
		k.Env = "PAWL_" + strings.ToUpper(strings.ReplaceAll(k.Name, ".", "_"))
		k.Default = k.defaultText
		if k.Default == "" {
			k.Default = formatDefault(k.def)
		}
	}
	return keys
}

// positive checks that a duration key is more than 0.
func positive(get func(Config) time.Duration) func(Key, Config) string {
	return func(k Key, c Config) string {
		if d := get(c); d <= 0 {
			return fmt.Sprintf("%s = %s: must be more than 0, e.g. %s (the default)", k.Name, formatDuration(d), plain(k.Default))
		}
		return ""
	}
}

// notNegative checks that a duration key is 0 or more.
func notNegative(get func(Config) time.Duration) func(Key, Config) string {
	return func(k Key, c Config) string {
		if d := get(c); d < 0 {
			return fmt.Sprintf("%s = %s: must be 0 or more, e.g. %s (the default)", k.Name, formatDuration(d), plain(k.Default))
		}
		return ""
	}
}

// between checks that an integer key is within [lo, hi].
func between(lo, hi int, get func(Config) int) func(Key, Config) string {
	return func(k Key, c Config) string {
		if n := get(c); n < lo || n > hi {
			return fmt.Sprintf("%s = %d: must be from %d to %d; the default is %s", k.Name, n, lo, hi, plain(k.Default))
		}
		return ""
	}
}

// formatDefault writes a default value as the documentation shows it.
func formatDefault(v any) string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return "none"
		}
		return "`" + v + "`"
	case time.Duration:
		return "`" + formatDuration(v) + "`"
	case int64:
		if v >= 1<<20 && v%(1<<20) == 0 {
			return fmt.Sprintf("`%d` (%d MiB)", v, v>>20)
		}
		return fmt.Sprintf("`%d`", v)
	default:
		return fmt.Sprintf("`%v`", v)
	}
}

// FormatDuration writes d as pawl.yaml would: 2m rather than 2m0s.
func FormatDuration(d time.Duration) string { return formatDuration(d) }

func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// plain is a documented default without its Markdown.
func plain(s string) string { return strings.ReplaceAll(s, "`", "") }
