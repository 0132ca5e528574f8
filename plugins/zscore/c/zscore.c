/* zscore: an ordered validator that keeps its statistics in the host's
 * state (docs/plugin-abi.md §8): a value must lie within k standard
 * deviations of the mean of the earlier accepted values of its key, once
 * warmup values of that key have been seen. The C build of the validator
 * described in zscore.go, which stays as its reference (run natively
 * beside this module by zscore_test.go): same config, same state bytes,
 * same verdicts bit for bit, same messages.
 *
 * Floating point: +, -, ×, ÷ and sqrt on f64 are IEEE 754, rounded to
 * nearest-even, in WebAssembly; there is no fused multiply-add to contract
 * into (and the build says -ffp-contract=off anyway). */
#include "../../c/pawl.h"

enum { COL_VALUE = 0, COL_KEY = 1 };
#define MAX_KEY 256
#define MAX_VALUE 8016

static double K;
static i64 warmup, window;

typedef struct { u64 n; double mean, m2; } stats;

static int is_inf(double x) { return x == __builtin_inf() || x == -__builtin_inf(); }
static int is_nan(double x) { return x != x; }

/* add is Welford's update; 0 (and s unchanged) when the result would not
 * be finite. */
static int add(stats *s, double x) {
	u64 n = s->n + 1;
	double d = x - s->mean;
	double mean = s->mean + d / (double)n;
	double m2 = s->m2 + d * (x - mean);
	if (is_inf(d) || is_inf(mean) || is_inf(m2) || is_nan(m2)) return 0;
	s->n = n; s->mean = mean; s->m2 = m2;
	return 1;
}
static double sd(const stats *s) { return s->n == 0 ? 0 : __builtin_sqrt(s->m2 / (double)s->n); }

static u32 rd32(const u8 *p) { return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24; }
static u64 rd64(const u8 *p) { return rd32(p) | (u64)rd32(p + 4) << 32; }
static void wr32(u8 *p, u32 v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static void wr64(u8 *p, u64 v) { wr32(p, (u32)v); wr32(p + 4, (u32)(v >> 32)); }
static double f64(u64 b) { double d; memcpy(&d, &b, 8); return d; }
static u64 bits(double d) { u64 b; memcpy(&b, &d, 8); return b; }

/* ring_header reads a window's header; 0, 0 when the value is not a ring. */
static void ring_header(const u8 *v, i32 len, u32 *n, u32 *next) {
	*n = *next = 0;
	if (len < 8) return;
	u32 a = rd32(v), b = rd32(v + 4);
	if ((u64)len != 8 + 8 * (u64)a || (a > 0 && b >= a)) return;
	*n = a; *next = b;
}

static stats read_stats(const u8 *v, i32 len) {
	stats s = {0, 0, 0};
	if (window == 0) {
		if (len != 24) return s;
		s.n = rd64(v); s.mean = f64(rd64(v + 8)); s.m2 = f64(rd64(v + 16));
		return s;
	}
	u32 n, next;
	ring_header(v, len, &n, &next);
	for (u32 i = 0; i < n; i++) { /* oldest first */
		u32 j = (n == (u32)window) ? (next + i) % n : i;
		add(&s, f64(rd64(v + 8 + 8 * j)));
	}
	return s;
}

static u8 keybuf[1 + MAX_KEY], old[MAX_VALUE], val[MAX_VALUE + 8];

/* encode writes the state value after x was accepted into val. */
static u32 encode(const u8 *o, i32 olen, const stats *s, double x) {
	if (window == 0) {
		wr64(val, s->n); wr64(val + 8, bits(s->mean)); wr64(val + 16, bits(s->m2));
		return 24;
	}
	u32 n, next;
	ring_header(o, olen, &n, &next);
	memset(val, 0, 8);
	if (n > 0) memcpy(val, o, 8 + 8 * n);
	if (n < (u32)window) { wr64(val + 8 + 8 * n, bits(x)); n++; }
	else { wr64(val + 8 + 8 * next, bits(x)); next = (next + 1) % n; }
	wr32(val, n); wr32(val + 4, next);
	return 8 + 8 * n;
}

/* read_int reads a JSON integer into *v as encoding/json reads an int. */
static int read_int(pawl_json *j, const char *name, i64 *v) {
	int t = pawl_json_peek(j);
	if (t == PJ_NULL) return pawl_json_skip(j);
	if (t != PJ_NUMBER) {
		if (t == PJ_ERR) return 0;
		pawl_fail("zscore config: json: cannot unmarshal ");
		pawl_say(pawl_json_kind_name(t));
		pawl_say(" into "); pawl_say(name); pawl_say(" (want an integer)");
		return 0;
	}
	const u8 *st = j->s;
	double d;
	if (!pawl_json_number(j, &d)) return 0;
	const u8 *p = st;
	int neg = 0;
	if (*p == '-') { neg = 1; p++; }
	u64 n = 0;
	for (; p < j->s && *p >= '0' && *p <= '9'; p++) {
		if (n > (~0ull >> 1) / 10) goto bad;
		n = n * 10 + (*p - '0');
	}
	if (p != j->s || n > (u64)1 << 63 || (!neg && n == (u64)1 << 63)) goto bad;
	*v = neg ? -(i64)n : (i64)n;
	return 1;
bad:
	pawl_fail("zscore config: json: cannot unmarshal number ");
	pawl_say_bytes(st, j->s - st);
	pawl_say(" into "); pawl_say(name); pawl_say(" (want an integer)");
	return 0;
}

static void configure(const pawl_init_msg *m) {
	K = 3; warmup = 30; window = 0;
	pawl_json j = {m->config, m->config + m->config_len, 0};
	int t = pawl_json_peek(&j), first = 1, r;
	u8 *key; u32 kl;
	if (t == PJ_NULL) goto check;
	if (t != PJ_OBJECT) {
		if (t == PJ_ERR) goto syntax;
		pawl_fail("zscore config: json: cannot unmarshal ");
		pawl_say(pawl_json_kind_name(t));
		pawl_say(" into the config (want an object)");
		return;
	}
	while ((r = pawl_json_object_next(&j, &first, &key, &kl)) == 1) {
		if (pawl_memeq(key, kl, (const u8 *)"k", 1)) {
			int u = pawl_json_peek(&j);
			if (u == PJ_NULL) { if (!pawl_json_skip(&j)) goto syntax; continue; }
			if (u != PJ_NUMBER) {
				if (u == PJ_ERR) goto syntax;
				pawl_fail("zscore config: json: cannot unmarshal ");
				pawl_say(pawl_json_kind_name(u));
				pawl_say(" into k (want a number)");
				return;
			}
			if (!pawl_json_number(&j, &K)) goto syntax;
		} else if (pawl_memeq(key, kl, (const u8 *)"warmup", 6)) {
			if (!read_int(&j, "warmup", &warmup)) goto syntax;
		} else if (pawl_memeq(key, kl, (const u8 *)"window", 6)) {
			if (!read_int(&j, "window", &window)) goto syntax;
		} else {
			pawl_fail("zscore config: json: unknown field ");
			pawl_say_quote(key, kl);
			return;
		}
	}
	if (r < 0) goto syntax;
check:
	if (!(K > 0)) {
		pawl_fail("zscore config: k ");
		pawl_say_g(K);
		pawl_say(": want a positive number of standard deviations");
		return;
	}
	if (window != 0 && (window < 2 || window > 1000)) {
		pawl_fail("zscore config: window ");
		pawl_say_int(window);
		pawl_say(": want 2..1000, or none for every value");
		return;
	}
	if (warmup < 2 || (window != 0 && warmup > window)) {
		pawl_fail("zscore config: warmup ");
		pawl_say_int(warmup);
		if (window != 0) { pawl_say(": want 2..window ("); pawl_say_int(window); pawl_say(")"); }
		else pawl_say(": want 2 or more");
	}
	return;
syntax:
	if (pawl_failed()) return;
	pawl_fail("zscore config: ");
	pawl_say(j.err ? j.err : "invalid JSON");
}

void pawl_plugin_init(const pawl_init_msg *m) { configure(m); }

void pawl_plugin_validate(const pawl_batch *b) {
	PAWL_PER_RECORD
	for (u32 i = 0; i < b->n; i++) {
		if (!pawl_present(b, COL_VALUE, i)) continue;
		double v = pawl_number(b, COL_VALUE, i);
		u32 kn = 0;
		const u8 *k = (const u8 *)"";
		if (pawl_present(b, COL_KEY, i)) k = pawl_string(b, COL_KEY, i, &kn);
		if (kn > MAX_KEY) {
			pawl_reject(i, COL_KEY, "zscore.key_too_long");
			pawl_say("key of "); pawl_say_int(kn);
			pawl_say(" bytes: zscore keeps statistics for keys of up to "); pawl_say_int(MAX_KEY); pawl_say(" bytes");
			continue;
		}
		keybuf[0] = 'd';
		memcpy(keybuf + 1, k, kn);
		const u8 *o = old;
		i32 olen = pawl_state_get(keybuf, kn + 1, old, sizeof old);
		if (olen > (i32)sizeof old) { /* larger than the manifest allows: read it, it is not ours */
			u8 *big = pawl_scratch((u32)olen);
			olen = pawl_state_get(keybuf, kn + 1, big, (u32)olen);
			o = big;
		}
		if (olen < 0) olen = 0;
		stats s = read_stats(o, olen);
		if (s.n >= (u64)warmup) {
			double mean = s.mean, dev = sd(&s);
			if (dev > 0 && __builtin_fabs(v - mean) > K * dev) {
				double z = (v - mean) / dev;
				pawl_reject(i, COL_VALUE, "zscore.outlier");
				pawl_say("value "); pawl_say_g(v);
				pawl_say(" is "); pawl_say_fmt(z, 'f', 2);
				pawl_say(" standard deviations from the rolling mean "); pawl_say_fmt(mean, 'g', 6);
				pawl_say(" of key "); pawl_say_quote(k, kn);
				pawl_say(" (limit "); pawl_say_g(K); pawl_say(")");
				continue;
			}
		}
		if (is_nan(v)) continue; /* JSON has none; never stored */
		stats ns = s;
		if (!add(&ns, v)) {
			pawl_reject(i, COL_VALUE, "zscore.overflow");
			pawl_say("value "); pawl_say_g(v);
			pawl_say(" of key "); pawl_say_quote(k, kn);
			pawl_say(" would make the statistics overflow a float64");
			continue;
		}
		if (window != 0) { ns.n = 0; ns.mean = ns.m2 = 0; } /* the ring's statistics are recomputed from its values */
		u32 n = encode(o, olen, &ns, v);
		pawl_state_put(keybuf, kn + 1, val, n);
	}
}
