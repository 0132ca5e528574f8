/* freshness: a timestamp must be a strict RFC 3339 date-time with a
 * timezone, no older than max_age before the batch's as-of time and no
 * later than max_skew after it (seed: within the last 24 hours). The C
 * build of the validator described in freshness.go, which stays as its
 * reference (run natively beside this module by freshness_test.go): same
 * config (durations in Go's ParseDuration syntax), same parser, same
 * messages (durations as Go's Duration.String, the as-of time as
 * time.RFC3339Nano in UTC). */
#include "../../c/pawl.h"

enum { COL_TS = 0 };
#define SECOND 1000000000ull

static i64 max_age, max_skew; /* nanoseconds */

/* ---- Go's time.ParseDuration (time/format.go), whose error text is not
 * used: only whether it fails. ----------------------------------------- */

static int parse_duration(const u8 *s, u32 n, i64 *out) {
	u64 d = 0;
	int neg = 0;
	if (n > 0 && (s[0] == '-' || s[0] == '+')) { neg = s[0] == '-'; s++; n--; }
	if (n == 1 && s[0] == '0') { *out = 0; return 1; }
	if (n == 0) return 0;
	while (n > 0) {
		u64 v = 0, f = 0;
		double scale = 1;
		if (!(s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) return 0;
		u32 i = 0;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) { /* leadingInt */
			if (v > (1ull << 63) / 10) return 0;
			v = v * 10 + (s[i] - '0');
			if (v > 1ull << 63) return 0;
		}
		int pre = i > 0, post = 0;
		s += i; n -= i;
		if (n > 0 && s[0] == '.') {
			s++; n--;
			int overflow = 0;
			for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) { /* leadingFraction */
				if (overflow) continue;
				if (f > ((1ull << 63) - 1) / 10) { overflow = 1; continue; }
				u64 y = f * 10 + (s[i] - '0');
				if (y > 1ull << 63) { overflow = 1; continue; }
				f = y;
				scale *= 10;
			}
			post = i > 0;
			s += i; n -= i;
		}
		if (!pre && !post) return 0;
		for (i = 0; i < n && !(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')); i++) {}
		if (i == 0) return 0;
		u64 unit;
		if (pawl_memeq(s, i, (const u8 *)"ns", 2)) unit = 1;
		else if (pawl_memeq(s, i, (const u8 *)"us", 2) || pawl_memeq(s, i, (const u8 *)"\xc2\xb5s", 3) ||
		         pawl_memeq(s, i, (const u8 *)"\xce\xbcs", 3)) unit = 1000;
		else if (pawl_memeq(s, i, (const u8 *)"ms", 2)) unit = 1000000;
		else if (pawl_memeq(s, i, (const u8 *)"s", 1)) unit = SECOND;
		else if (pawl_memeq(s, i, (const u8 *)"m", 1)) unit = 60 * SECOND;
		else if (pawl_memeq(s, i, (const u8 *)"h", 1)) unit = 3600 * SECOND;
		else return 0;
		s += i; n -= i;
		if (v > (1ull << 63) / unit) return 0;
		v *= unit;
		if (f > 0) {
			v += (u64)((double)f * ((double)unit / scale));
			if (v > 1ull << 63) return 0;
		}
		d += v;
		if (d > 1ull << 63) return 0;
	}
	if (neg) { *out = (i64)(0 - d); return 1; }
	if (d > (1ull << 63) - 1) return 0;
	*out = (i64)d;
	return 1;
}

/* ---- Go's Duration.String (time/time.go) ------------------------------ */

static u32 frac(u8 *buf, u32 w, u64 *v, int prec) {
	int print = 0;
	for (int i = 0; i < prec; i++) {
		u8 digit = *v % 10;
		print = print || digit != 0;
		if (print) buf[--w] = digit + '0';
		*v /= 10;
	}
	if (print) buf[--w] = '.';
	return w;
}
static u32 integer(u8 *buf, u32 w, u64 v) {
	if (v == 0) buf[--w] = '0';
	else while (v > 0) { buf[--w] = v % 10 + '0'; v /= 10; }
	return w;
}
static void say_duration(i64 d) {
	u8 buf[32];
	u32 w = 32;
	u64 u = (u64)d;
	int neg = d < 0;
	if (neg) u = 0 - u;
	if (u < SECOND) {
		int prec;
		buf[--w] = 's';
		w--;
		if (u == 0) { buf[w] = '0'; pawl_say_bytes(buf + w, 32 - w); return; }
		else if (u < 1000) { prec = 0; buf[w] = 'n'; }
		else if (u < 1000000) { prec = 3; w--; buf[w] = 0xC2; buf[w + 1] = 0xB5; }
		else { prec = 6; buf[w] = 'm'; }
		w = frac(buf, w, &u, prec);
		w = integer(buf, w, u);
	} else {
		buf[--w] = 's';
		w = frac(buf, w, &u, 9);
		w = integer(buf, w, u % 60);
		u /= 60;
		if (u > 0) {
			buf[--w] = 'm';
			w = integer(buf, w, u % 60);
			u /= 60;
			if (u > 0) { buf[--w] = 'h'; w = integer(buf, w, u); }
		}
	}
	if (neg) buf[--w] = '-';
	pawl_say_bytes(buf + w, 32 - w);
}

/* ---- dates ---------------------------------------------------------------- */

static int days_in(int y, int m) {
	if (m == 2) return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;
	if (m == 4 || m == 6 || m == 9 || m == 11) return 30;
	return 31;
}
/* days_from_civil is days since 1970-01-01 (Howard Hinnant's algorithm),
 * with Go's truncating division, as freshness.go computes it. */
static i64 days_from_civil(int y, int m, int d) {
	if (m <= 2) y--;
	int era = y / 400, yoe = y - era * 400, mp = (m + 9) % 12;
	int doy = (153 * mp + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (i64)era * 146097 + doe - 719468;
}
/* civil_from_days is its inverse, for the as-of time (any int64 of
 * nanoseconds is within years 1677..2262). */
static void civil_from_days(i64 z, int *y, int *m, int *d) {
	z += 719468;
	i64 era = (z >= 0 ? z : z - 146096) / 146097;
	u32 doe = (u32)(z - era * 146097);
	u32 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	i64 yy = (i64)yoe + era * 400;
	u32 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	u32 mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yy + (*m <= 2));
}

static void put2(u8 *p, int v) { p[0] = '0' + v / 10; p[1] = '0' + v % 10; }

/* say_rfc3339nano is time.Unix(0, ns).UTC().Format(time.RFC3339Nano). */
static void say_rfc3339nano(i64 ns) {
	i64 secs = ns / (i64)SECOND, rem = ns % (i64)SECOND;
	if (rem < 0) { rem += SECOND; secs--; }
	i64 days = secs / 86400, sod = secs % 86400;
	if (sod < 0) { sod += 86400; days--; }
	int y, m, d;
	civil_from_days(days, &y, &m, &d);
	u8 b[40];
	b[0] = '0' + y / 1000; b[1] = '0' + y / 100 % 10; b[2] = '0' + y / 10 % 10; b[3] = '0' + y % 10;
	b[4] = '-'; put2(b + 5, m); b[7] = '-'; put2(b + 8, d); b[10] = 'T';
	put2(b + 11, (int)(sod / 3600)); b[13] = ':'; put2(b + 14, (int)(sod / 60 % 60)); b[16] = ':'; put2(b + 17, (int)(sod % 60));
	u32 n = 19;
	if (rem) {
		b[n++] = '.';
		u32 k = 9;
		while (rem % 10 == 0) { rem /= 10; k--; }
		for (u32 i = k; i > 0; i--) { b[n + i - 1] = '0' + rem % 10; rem /= 10; }
		n += k;
	}
	b[n++] = 'Z';
	pawl_say_bytes(b, n);
}

/* ---- the parser: ParseRFC3339 in freshness.go ------------------------- */

static int digits(const u8 *s, u32 i, u32 n, int *v) {
	int a = s[i] - '0', b = s[i + 1] - '0';
	if ((unsigned)a > 9 || (unsigned)b > 9) return 0;
	if (n == 2) { *v = a * 10 + b; return 1; }
	int c = s[i + 2] - '0', d = s[i + 3] - '0';
	if ((unsigned)c > 9 || (unsigned)d > 9) return 0;
	*v = a * 1000 + b * 100 + c * 10 + d;
	return 1;
}

static const char *parse_rfc3339(const u8 *s, u32 len, i64 *out) {
	if (len < 20) return "too short";
	int year, month, day, hour, min, sec;
	int ok1 = digits(s, 0, 4, &year), ok2 = digits(s, 5, 2, &month), ok3 = digits(s, 8, 2, &day);
	if (!ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-') return "the date is not YYYY-MM-DD";
	if (s[10] != 'T' && s[10] != 't') return "no T between date and time";
	ok1 = digits(s, 11, 2, &hour); ok2 = digits(s, 14, 2, &min); ok3 = digits(s, 17, 2, &sec);
	if (!ok1 || !ok2 || !ok3 || s[13] != ':' || s[16] != ':') return "the time is not HH:MM:SS";
	if (month < 1 || month > 12 || day < 1 || day > days_in(year, month)) return "no such date";
	if (hour > 23 || min > 59 || sec > 59) return "no such time of day";
	u32 i = 19;
	i64 nanos = 0;
	if (i < len && s[i] == '.') {
		i++;
		u32 start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (i - start < 9) nanos = nanos * 10 + (s[i] - '0');
			i++;
		}
		u32 n = i - start;
		if (n == 0 || n > 9) return "the fraction of a second has no digits or more than 9";
		for (; n < 9; n++) nanos *= 10;
	}
	if (i >= len) return "no timezone (Z or ±HH:MM)";
	int offset = 0;
	switch (s[i]) {
	case 'Z': case 'z':
		i++;
		break;
	case '+': case '-': {
		if (len - i != 6 || s[i + 3] != ':') return "the offset is not ±HH:MM";
		int oh, om;
		ok1 = digits(s, i + 1, 2, &oh); ok2 = digits(s, i + 4, 2, &om);
		if (!ok1 || !ok2 || oh > 23 || om > 59) return "the offset is not ±HH:MM";
		offset = oh * 3600 + om * 60;
		if (s[i] == '-') offset = -offset;
		i += 6;
		break;
	}
	default:
		return "no timezone (Z or ±HH:MM)";
	}
	if (i != len) return "text after the timezone";
	i64 secs = days_from_civil(year, month, day) * 86400 + (hour * 3600 + min * 60 + sec) - offset;
	*out = (i64)((u64)secs * SECOND + (u64)nanos); /* wraps as Go's int64 does */
	return 0;
}

/* ---- config ------------------------------------------------------------- */

static int read_duration_field(pawl_json *j, const char *name, u8 **s, u32 *n) {
	int t = pawl_json_peek(j);
	if (t == PJ_NULL) return pawl_json_skip(j);
	if (t != PJ_STRING) {
		if (t == PJ_ERR) return 0;
		pawl_fail("freshness config: json: cannot unmarshal ");
		pawl_say(pawl_json_kind_name(t));
		pawl_say(" into "); pawl_say(name); pawl_say(" (want a string)");
		return 0;
	}
	return pawl_json_string(j, s, n);
}

static void configure(const pawl_init_msg *m) {
	u8 *age = (u8 *)"24h", *skew = (u8 *)"5m";
	u32 agel = 3, skewl = 2;
	pawl_json j = {m->config, m->config + m->config_len, 0};
	int t = pawl_json_peek(&j), first = 1, r;
	u8 *key; u32 kl;
	if (t == PJ_NULL) goto check;
	if (t != PJ_OBJECT) {
		if (t == PJ_ERR) goto syntax;
		pawl_fail("freshness config: json: cannot unmarshal ");
		pawl_say(pawl_json_kind_name(t));
		pawl_say(" into the config (want an object)");
		return;
	}
	while ((r = pawl_json_object_next(&j, &first, &key, &kl)) == 1) {
		if (pawl_memeq(key, kl, (const u8 *)"max_age", 7)) { if (!read_duration_field(&j, "max_age", &age, &agel)) goto syntax; }
		else if (pawl_memeq(key, kl, (const u8 *)"max_skew", 8)) { if (!read_duration_field(&j, "max_skew", &skew, &skewl)) goto syntax; }
		else {
			pawl_fail("freshness config: json: unknown field ");
			pawl_say_quote(key, kl);
			return;
		}
	}
	if (r < 0) goto syntax;
check:
	if (!parse_duration(age, agel, &max_age) || max_age <= 0) {
		pawl_fail("freshness config: max_age ");
		pawl_say_quote(age, agel);
		pawl_say(": want a positive duration such as \"24h\"");
		return;
	}
	if (!parse_duration(skew, skewl, &max_skew) || max_skew < 0) {
		pawl_fail("freshness config: max_skew ");
		pawl_say_quote(skew, skewl);
		pawl_say(": want a duration such as \"5m\" (\"0s\" for none)");
	}
	return;
syntax:
	if (pawl_failed()) return;
	pawl_fail("freshness config: ");
	pawl_say(j.err ? j.err : "invalid JSON");
}

void pawl_plugin_init(const pawl_init_msg *m) { configure(m); }

void pawl_plugin_validate(const pawl_batch *b) {
	PAWL_PER_RECORD
	for (u32 i = 0; i < b->n; i++) {
		if (!pawl_present(b, COL_TS, i)) continue;
		u32 n;
		const u8 *s = pawl_string(b, COL_TS, i, &n);
		i64 t;
		const char *why = parse_rfc3339(s, n, &t);
		if (why) {
			pawl_reject(i, COL_TS, "freshness.format");
			pawl_say_quote_value(s, n);
			pawl_say(" is not an RFC 3339 date-time with a timezone: ");
			pawl_say(why);
			continue;
		}
		i64 age = (i64)((u64)b->as_of - (u64)t), neg = (i64)(0 - (u64)age);
		if (age > max_age) {
			pawl_reject(i, COL_TS, "freshness.stale");
			pawl_say_bytes(s, n); pawl_say(" is "); say_duration(age);
			pawl_say(" before the as-of time "); say_rfc3339nano(b->as_of);
			pawl_say("; the limit is "); say_duration(max_age);
		} else if (neg > max_skew) {
			pawl_reject(i, COL_TS, "freshness.future");
			pawl_say_bytes(s, n); pawl_say(" is "); say_duration(neg);
			pawl_say(" after the as-of time "); say_rfc3339nano(b->as_of);
			pawl_say("; the allowed skew is "); say_duration(max_skew);
		}
	}
}
