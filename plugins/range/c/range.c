/* range: numeric bounds on a field, optionally per unit (seed: a
 * temperature is at least absolute zero, -273.15 °C, -459.67 °F, 0 K).
 * The C build of the validator described in range.go, which stays as its
 * reference (run natively beside this module by range_test.go): same
 * config, same rules, same messages. */
#include "../../c/pawl.h"

enum { COL_VALUE = 0, COL_UNIT = 1 };

/* A bound's text is formatted once, at init: formatting a value far from
 * 1 exactly takes long (Go's slow path), and a bound is quoted in every
 * reason. */
typedef struct { int has_min, has_max; double min, max; char *mint, *maxt; u32 minl, maxl; } bounds;
typedef struct { u8 *name; u32 len; bounds b; } unit;

static bounds def;
static unit *units;
static u32 nunits;
static int reject_unknown;

static int bad_type(const char *where, int kind) {
	pawl_fail("range config: json: cannot unmarshal ");
	pawl_say(pawl_json_kind_name(kind));
	pawl_say(" into ");
	pawl_say(where);
	return 0;
}

/* read_bound reads a number or null into *has, *v. */
static int read_bound(pawl_json *j, const char *where, int *has, double *v) {
	int k = pawl_json_peek(j);
	if (k == PJ_NULL) { *has = 0; return pawl_json_skip(j); }
	if (k != PJ_NUMBER) return k == PJ_ERR ? 0 : bad_type(where, k);
	if (!pawl_json_number(j, v)) return 0;
	*has = 1;
	return 1;
}

static int read_bounds(pawl_json *j, bounds *b) {
	int k = pawl_json_peek(j), first = 1, r;
	memset(b, 0, sizeof *b);
	if (k == PJ_NULL) return pawl_json_skip(j);
	if (k != PJ_OBJECT) return k == PJ_ERR ? 0 : bad_type("a unit's bounds (want an object)", k);
	u8 *key; u32 kl;
	while ((r = pawl_json_object_next(j, &first, &key, &kl)) == 1) {
		if (pawl_memeq(key, kl, (const u8 *)"min", 3)) { if (!read_bound(j, "units' min (want a number or null)", &b->has_min, &b->min)) return 0; }
		else if (pawl_memeq(key, kl, (const u8 *)"max", 3)) { if (!read_bound(j, "units' max (want a number or null)", &b->has_max, &b->max)) return 0; }
		else { pawl_fail("range config: json: unknown field "); pawl_say_quote(key, kl); return 0; }
	}
	return r == 0;
}

/* set_unit adds or replaces a unit's entry, keeping units sorted. */
static unit *units_cap_end;
static void set_unit(u8 *name, u32 len, bounds b) {
	u32 i = 0;
	while (i < nunits && pawl_memcmp(units[i].name, units[i].len, name, len) < 0) i++;
	if (i < nunits && pawl_memeq(units[i].name, units[i].len, name, len)) { units[i].b = b; return; }
	if (units + nunits == units_cap_end) {
		u32 cap = nunits * 2 + 4;
		unit *n = pawl_keep(cap * sizeof(unit));
		memcpy(n, units, nunits * sizeof(unit));
		units = n; units_cap_end = n + cap;
	}
	for (u32 k = nunits; k > i; k--) units[k] = units[k - 1];
	units[i].name = name; units[i].len = len; units[i].b = b;
	nunits++;
}

static void texts(bounds *b) {
	char buf[32];
	if (b->has_min) { b->minl = pawl_format(buf, sizeof buf, b->min, 'g', -1); b->mint = pawl_keep(b->minl); memcpy(b->mint, buf, b->minl); }
	if (b->has_max) { b->maxl = pawl_format(buf, sizeof buf, b->max, 'g', -1); b->maxt = pawl_keep(b->maxl); memcpy(b->maxt, buf, b->maxl); }
}

static int check(const char *where, const u8 *w, u32 wl, bounds b) {
	if (b.has_min && b.has_max && b.min > b.max) {
		pawl_fail("range config: ");
		pawl_say(where);
		pawl_say_bytes(w, wl);
		pawl_say(": min ");
		pawl_say_g(b.min);
		pawl_say(" is above max ");
		pawl_say_g(b.max);
		return 0;
	}
	return 1;
}

static int configure(const pawl_init_msg *m) {
	/* The seed: absolute zero in each unit. */
	def = (bounds){1, 0, -273.15, 0, 0, 0, 0, 0};
	units = 0; nunits = 0; units_cap_end = 0; reject_unknown = 0;
	set_unit((u8 *)"celsius", 7, (bounds){1, 0, -273.15, 0, 0, 0, 0, 0});
	set_unit((u8 *)"fahrenheit", 10, (bounds){1, 0, -459.67, 0, 0, 0, 0, 0});
	set_unit((u8 *)"kelvin", 6, (bounds){1, 0, 0, 0, 0, 0, 0, 0});

	pawl_json j = {m->config, m->config + m->config_len, 0};
	int k = pawl_json_peek(&j), first = 1, r;
	if (k == PJ_NULL) return 1;
	if (k != PJ_OBJECT) {
		if (k != PJ_ERR) return bad_type("the config (want an object)", k);
		goto syntax;
	}
	u8 *key; u32 kl;
	while ((r = pawl_json_object_next(&j, &first, &key, &kl)) == 1) {
		if (pawl_memeq(key, kl, (const u8 *)"min", 3)) { if (!read_bound(&j, "min (want a number or null)", &def.has_min, &def.min)) goto syntax; }
		else if (pawl_memeq(key, kl, (const u8 *)"max", 3)) { if (!read_bound(&j, "max (want a number or null)", &def.has_max, &def.max)) goto syntax; }
		else if (pawl_memeq(key, kl, (const u8 *)"unknown_unit", 12)) {
			int t = pawl_json_peek(&j);
			if (t == PJ_NULL) { if (!pawl_json_skip(&j)) goto syntax; continue; }
			if (t != PJ_STRING) { if (t == PJ_ERR) goto syntax; return bad_type("unknown_unit (want a string)", t); }
			u8 *s; u32 sl;
			if (!pawl_json_string(&j, &s, &sl)) goto syntax;
			if (pawl_memeq(s, sl, (const u8 *)"default", 7)) reject_unknown = 0;
			else if (pawl_memeq(s, sl, (const u8 *)"reject", 6)) reject_unknown = 1;
			else {
				pawl_fail("range config: unknown_unit ");
				pawl_say_quote(s, sl);
				pawl_say(": want \"default\" or \"reject\"");
				return 0;
			}
		} else if (pawl_memeq(key, kl, (const u8 *)"units", 5)) {
			int t = pawl_json_peek(&j), f2 = 1, r2;
			if (t == PJ_NULL) { nunits = 0; if (!pawl_json_skip(&j)) goto syntax; continue; }
			if (t != PJ_OBJECT) { if (t == PJ_ERR) goto syntax; return bad_type("units (want an object)", t); }
			u8 *name; u32 nl;
			while ((r2 = pawl_json_object_next(&j, &f2, &name, &nl)) == 1) {
				bounds b;
				if (!read_bounds(&j, &b)) { if (pawl_failed()) return 0; goto syntax; }
				set_unit(name, nl, b);
			}
			if (r2 < 0) goto syntax;
		} else {
			pawl_fail("range config: json: unknown field ");
			pawl_say_quote(key, kl);
			return 0;
		}
		if (pawl_failed()) return 0;
	}
	if (r < 0) goto syntax;
	if (!check("top level", 0, 0, def)) return 0;
	for (u32 i = 0; i < nunits; i++)
		if (!check("units.", units[i].name, units[i].len, units[i].b)) return 0;
	texts(&def);
	for (u32 i = 0; i < nunits; i++) texts(&units[i].b);
	return 1;
syntax:
	if (pawl_failed()) return 0;
	pawl_fail("range config: ");
	pawl_say(j.err ? j.err : "invalid JSON");
	return 0;
}

void pawl_plugin_init(const pawl_init_msg *m) {
	/* A refused config leaves nothing behind: the host discards the instance. */
	configure(m);
}

static void unit_desc(int k) {
	if (k < 0) return;
	pawl_say(" for unit ");
	pawl_say_quote(units[k].name, units[k].len);
}

void pawl_plugin_validate(const pawl_batch *b) {
	const u8 *last = 0;
	u32 last_len = 0;
	int last_idx = -1;
	PAWL_PER_RECORD
	for (u32 i = 0; i < b->n; i++) {
		if (!pawl_present(b, COL_VALUE, i)) continue;
		double v = pawl_number(b, COL_VALUE, i);
		bounds bd = def;
		int k = -1;
		if (pawl_present(b, COL_UNIT, i)) {
			u32 ul;
			const u8 *u = pawl_string(b, COL_UNIT, i, &ul);
			if (last_idx < 0 || !pawl_memeq(u, ul, last, last_len)) {
				last = u; last_len = ul; last_idx = (int)nunits;
				for (u32 x = 0; x < nunits; x++)
					if (pawl_memeq(units[x].name, units[x].len, u, ul)) { last_idx = (int)x; break; }
			}
			if (last_idx < (int)nunits) { bd = units[last_idx].b; k = last_idx; }
			else if (reject_unknown) {
				pawl_reject(i, COL_UNIT, "range.unit");
				pawl_say("unit ");
				pawl_say_quote_value(u, ul);
				pawl_say(" has no configured bounds");
				continue;
			}
		}
		if (bd.has_min && v < bd.min) {
			pawl_reject(i, COL_VALUE, "range.min");
			pawl_say("value "); pawl_say_g(v); pawl_say(" is below the minimum "); pawl_say_bytes((const u8 *)bd.mint, bd.minl);
			unit_desc(k);
		} else if (bd.has_max && v > bd.max) {
			pawl_reject(i, COL_VALUE, "range.max");
			pawl_say("value "); pawl_say_g(v); pawl_say(" is above the maximum "); pawl_say_bytes((const u8 *)bd.maxt, bd.maxl);
			unit_desc(k);
		}
	}
}
