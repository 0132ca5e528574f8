/* registry: a field's value must be listed in a pinned lookup file (seed:
 * a device_id must be in the device registry). The C build of the
 * validator described in registry.go, which stays as its reference (run
 * natively beside this module by registry_test.go): same config, same
 * reading of the file, same rules, same messages. */
#include "../../c/pawl.h"

enum { COL_ID = 0 };

typedef struct { u32 hash, len; const u8 *s; } slot;
static slot *set;    /* open addressing, size a power of two */
static u32 set_mask;
static int fold;

/* hash mixes s 8 bytes at a time (pawl.c says why: every loop iteration
 * costs in the sandbox); an id of up to 16 bytes takes no loop at all.
 * Which slot an id lands in is all it decides. */
static u64 mix(u64 h, u64 x) {
	h = (h ^ x) * 0x9E3779B97F4A7C15ull;
	return h ^ (h >> 32);
}
static u32 hash(const u8 *s, u32 n) {
	u64 h = n;
	if (n >= 8) {
		h = mix(h, pawl_load64(s));
		for (u32 i = 8; i + 8 < n; i += 8) h = mix(h, pawl_load64(s + i));
		h = mix(h, pawl_load64(s + n - 8));
	} else if (n >= 4) {
		h = mix(h, (u64)(s[0] | s[1] << 8 | s[2] << 16 | (u32)s[3] << 24) << 32 |
		           (s[n - 4] | s[n - 3] << 8 | s[n - 2] << 16 | (u32)s[n - 1] << 24));
	} else if (n > 0) {
		h = mix(h, (u64)s[0] | (u64)s[n / 2] << 8 | (u64)s[n - 1] << 16);
	}
	h ^= h >> 33; /* murmur3's finalizer: every bit of h reaches the slot's bits */
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (u32)h;
}

/* find returns the slot holding s, or the empty slot where it would go
 * (the first one looked at, most of the time: no loop then). */
static slot *find(const u8 *s, u32 n, u32 h) {
	u32 i = h & set_mask;
	while (set[i].s && !(set[i].hash == h && pawl_memeq(set[i].s, set[i].len, s, n))) i = (i + 1) & set_mask;
	return &set[i];
}

/* lower writes strings.ToLower(s) to out (room for 4 bytes per byte of
 * s: no rune's lower case is longer than 4 bytes) and returns its length. */
static u32 lower(const u8 *s, u32 n, u8 *out) {
	u32 o = 0;
	for (u32 i = 0; i < n;) {
		if (s[i] < 0x80) {
			u8 c = s[i++];
			out[o++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
			continue;
		}
		u32 w, r = pawl_utf8_decode(s + i, n - i, &w);
		o += pawl_utf8_encode(out + o, pawl_to_lower(r));
		i += w;
	}
	return o;
}

static int is_space_at(const u8 *s, u32 n, u32 *w) {
	u32 r = pawl_utf8_decode(s, n, w);
	return pawl_is_space(r);
}

/* trim is strings.TrimSpace on valid UTF-8. */
static void trim(const u8 **s, u32 *n) {
	u32 w;
	while (*n > 0 && is_space_at(*s, *n, &w)) { *s += w; *n -= w; }
	while (*n > 0) {
		/* the last rune starts at the last byte that is not a continuation byte */
		u32 k = *n - 1;
		while (k > 0 && ((*s)[k] & 0xC0) == 0x80 && *n - k < 4) k--;
		if (!is_space_at(*s + k, *n - k, &w) || k + w != *n) break;
		*n = k;
	}
}

static void configure(const pawl_init_msg *m) {
	pawl_json j = {m->config, m->config + m->config_len, 0};
	int k = pawl_json_peek(&j), first = 1, r;
	u8 *key; u32 kl;
	fold = 0;
	if (k == PJ_NULL) goto lookups;
	if (k != PJ_OBJECT) {
		if (k == PJ_ERR) goto syntax;
		pawl_fail("registry config: json: cannot unmarshal ");
		pawl_say(pawl_json_kind_name(k));
		pawl_say(" into the config (want an object)");
		return;
	}
	while ((r = pawl_json_object_next(&j, &first, &key, &kl)) == 1) {
		if (!pawl_memeq(key, kl, (const u8 *)"case_insensitive", 16)) {
			pawl_fail("registry config: json: unknown field ");
			pawl_say_quote(key, kl);
			return;
		}
		int t = pawl_json_peek(&j);
		if (t == PJ_TRUE || t == PJ_FALSE) fold = t == PJ_TRUE;
		else if (t != PJ_NULL) {
			if (t == PJ_ERR) goto syntax;
			pawl_fail("registry config: json: cannot unmarshal ");
			pawl_say(pawl_json_kind_name(t));
			pawl_say(" into case_insensitive (want a bool)");
			return;
		}
		if (!pawl_json_skip(&j)) goto syntax;
	}
	if (r < 0) goto syntax;

lookups:;
	const u8 *data;
	u32 len;
	if (!pawl_lookup(m, "registry", &data, &len)) {
		pawl_fail("registry: no lookup file named \"registry\"");
		return;
	}
	if (!pawl_utf8_valid(data, len)) {
		pawl_fail("registry: the lookup file is not valid UTF-8");
		return;
	}
	u32 lines = 1;
	for (u32 i = 0; i < len; i++) lines += data[i] == '\n';
	u32 size = 16;
	while (size < 2 * lines) size *= 2;
	set = pawl_keep(size * sizeof(slot));
	memset(set, 0, size * sizeof(slot));
	set_mask = size - 1;
	u32 count = 0, line = 0;
	for (u32 at = 0; at <= len; line++) {
		u32 end = at;
		while (end < len && data[end] != '\n') end++;
		const u8 *s = data + at;
		u32 n = end - at;
		at = end + 1;
		trim(&s, &n);
		if (n == 0 || s[0] == '#') continue;
		if (fold) {
			u8 *l = pawl_keep(4 * n);
			n = lower(s, n, l);
			s = l;
		}
		u32 h = hash(s, n);
		slot *x = find(s, n, h);
		if (x->s) {
			pawl_fail("registry: line ");
			pawl_say_int(line + 1);
			pawl_say(": id ");
			pawl_say_quote(s, n);
			pawl_say(" listed twice");
			return;
		}
		x->s = s; x->len = n; x->hash = h;
		count++;
	}
	/* The file's bytes stay in the host's input buffer only until the next
	 * call: keep copies. */
	for (u32 i = 0; i < size; i++) {
		if (!set[i].s || fold) continue; /* folded ids are kept already */
		u8 *c = pawl_keep(set[i].len);
		memcpy(c, set[i].s, set[i].len);
		set[i].s = c;
	}
	if (count == 0) pawl_fail("registry: the lookup file lists no ids");
	return;
syntax:
	pawl_fail("registry config: ");
	pawl_say(j.err ? j.err : "invalid JSON");
}

void pawl_plugin_init(const pawl_init_msg *m) { configure(m); }

void pawl_plugin_validate(const pawl_batch *b) {
	u8 *tmp = 0;
	u32 cap = 0;
	PAWL_PER_RECORD
	for (u32 i = 0; i < b->n; i++) {
		if (!pawl_present(b, COL_ID, i)) continue;
		u32 n;
		const u8 *id = pawl_string(b, COL_ID, i, &n);
		const u8 *key = id;
		u32 kn = n;
		if (fold) {
			if (4 * n + 4 > cap) { cap = 8 * n + 64; tmp = pawl_scratch(cap); }
			kn = lower(id, n, tmp);
			key = tmp;
		}
		if (!find(key, kn, hash(key, kn))->s) {
			pawl_reject(i, COL_ID, "registry.unknown");
			pawl_say_quote_value(id, n);
			pawl_say(" is not in the registry");
		}
	}
}
