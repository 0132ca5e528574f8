/* pawl.c: what the first-party C plugins share (see pawl.h). Freestanding:
 * no libc, no WASI; every read of the host's messages is bounds-checked
 * and traps when out of bounds. */
#include "pawl.h"
#include "unicode.h"

/* ---- memory ---------------------------------------------------------- */

extern u8 __heap_base;
static u32 top;  /* the bump pointer */
static u32 mark; /* where a call's scratch memory starts */

static u32 reserve(u32 n) {
	if (!top) top = mark = ((u32)(usize)&__heap_base + 7) & ~7u;
	u32 p = (top + 7) & ~7u;
	if (p < top || p + n < p) PAWL_TRAP();
	u32 end = p + n;
	u32 have = (u32)__builtin_wasm_memory_size(0) << 16;
	if (end > have) {
		u32 pages = ((end - have) >> 16) + 1;
		if (__builtin_wasm_memory_grow(0, pages) == (usize)-1) PAWL_TRAP();
	}
	top = end;
	return p;
}
void *pawl_keep(u32 n) { u32 p = reserve(n); mark = top; return (void *)(usize)p; }
void *pawl_scratch(u32 n) { return (void *)(usize)reserve(n); }

/* Loops cost in pawl's sandbox: every iteration of a WebAssembly loop
 * checks, through the host, whether the call was stopped (its deadline),
 * which costs far more than the iteration's own work. So the code a
 * record runs through avoids byte loops: memory.copy and memory.fill
 * (bulk memory, -mbulk-memory) copy and fill in one instruction, strings
 * are compared and hashed 8 bytes at a time, and the length of a literal
 * is known when it is compiled (pawl.h's pawl_say and pawl_reject). A
 * build without bulk memory (an older kit's flags) gets the byte loops. */
void *memcpy(void *d, const void *s, usize n) {
#ifdef __wasm_bulk_memory__
	return __builtin_memcpy(d, s, n);
#else
	u8 *a = d; const u8 *b = s;
	while (n--) *a++ = *b++;
	return d;
#endif
}
void *memset(void *d, int c, usize n) {
#ifdef __wasm_bulk_memory__
	return __builtin_memset(d, c, n);
#else
	u8 *a = d;
	while (n--) *a++ = (u8)c;
	return d;
#endif
}
usize strlen(const char *s) {
	usize n = 0;
	while (s[n]) n++;
	return n;
}
u64 pawl_load64(const u8 *p) { u64 v; __builtin_memcpy(&v, p, 8); return v; }
static u32 load32(const u8 *p) { u32 v; __builtin_memcpy(&v, p, 4); return v; }
int pawl_memeq(const u8 *a, u32 an, const u8 *b, u32 bn) {
	if (an != bn) return 0;
	if (an < 4) {
		for (u32 i = 0; i < an; i++) if (a[i] != b[i]) return 0;
		return 1;
	}
	if (an < 8) return load32(a) == load32(b) && load32(a + an - 4) == load32(b + an - 4);
	/* 8 bytes at a time; the last 8 (overlapping) without a loop */
	if (pawl_load64(a) != pawl_load64(b)) return 0;
	for (u32 i = 8; i + 8 < an; i += 8) if (pawl_load64(a + i) != pawl_load64(b + i)) return 0;
	return pawl_load64(a + an - 8) == pawl_load64(b + an - 8);
}
int pawl_memcmp(const u8 *a, u32 an, const u8 *b, u32 bn) {
	u32 n = an < bn ? an : bn;
	for (u32 i = 0; i < n; i++) if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
	return an < bn ? -1 : an > bn ? 1 : 0;
}

static u32 rd32(const u8 *p) { return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24; }
static u64 rd64(const u8 *p) { return rd32(p) | (u64)rd32(p + 4) << 32; }
static void wr32(u8 *p, u32 v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }

/* ---- the result writer ----------------------------------------------- */

static u8 *out;       /* the result message being written */
static u32 out_len, out_cap, out_reasons, out_msg_at; /* out_msg_at: offset of the open reason's message length, or 0 */

static void out_grow(u32 k) {
	if (out_len + k <= out_cap) return;
	if (out_len + k < out_len) PAWL_TRAP();
	if ((u32)(usize)out + out_cap == top) { /* at the top: extend in place */
		u32 more = out_len + k - out_cap;
		if (more < 4096) more = 4096;
		reserve(more); /* contiguous: top is 8-aligned after each reserve and out_cap is kept 8-aligned */
		out_cap += (more + 7) & ~7u;
		top = (u32)(usize)out + out_cap;
		return;
	}
	u32 cap = out_cap * 2;
	if (cap < out_len + k) cap = out_len + k;
	cap = (cap + 7) & ~7u;
	u8 *n = pawl_scratch(cap);
	memcpy(n, out, out_len);
	out = n; out_cap = cap;
}
static void out_bytes(const u8 *s, u32 n) { out_grow(n); memcpy(out + out_len, s, n); out_len += n; }
static void out_u32(u32 v) { out_grow(4); wr32(out + out_len, v); out_len += 4; }
static u32 cstrlen(const char *s) { return (u32)strlen(s); }

static void out_start(void) {
	out_cap = 4096; out = pawl_scratch(out_cap); out_len = 0; out_reasons = 0; out_msg_at = 0;
}
static void out_close(void) {
	if (out_msg_at) wr32(out + out_msg_at, out_len - out_msg_at - 4);
	out_msg_at = 0;
}

void pawl_reject_n(u32 record, u32 field, const char *rule, u32 n) {
	out_close();
	out_grow(16 + n);
	u8 *o = out + out_len;
	wr32(o, record); wr32(o + 4, field); wr32(o + 8, n); memcpy(o + 12, rule, n);
	out_len += 12 + n;
	out_msg_at = out_len; out_u32(0);
	out_reasons++;
}
void (pawl_reject)(u32 record, u32 field, const char *rule) { pawl_reject_n(record, field, rule, cstrlen(rule)); }
void pawl_say_bytes(const u8 *s, u32 n) { out_bytes(s, n); }
void (pawl_say)(const char *s) { out_bytes((const u8 *)s, cstrlen(s)); }

static int failed;
void pawl_fail(const char *s) { out_start(); failed = 1; pawl_say(s); }
int pawl_failed(void) { return failed; }

static i64 result(u8 *p, u32 n) { return n ? (i64)((u64)(u32)(usize)p << 32 | n) : 0; }

/* ---- exports ------------------------------------------------------------ */

__attribute__((export_name("pawl_alloc"))) u32 pawl_alloc(u32 n) {
	top = mark ? mark : top;
	u32 p = (u32)(usize)pawl_keep(n);
	return p;
}

__attribute__((export_name("pawl_init"))) i64 pawl_init(u32 ptr, u32 len) {
	const u8 *m = (const u8 *)(usize)ptr;
	top = mark;
	failed = 0;
	if (len < 32 || rd32(m) != 0x31495750 || rd32(m + 4) != 1) PAWL_TRAP();
	pawl_init_msg im;
	im.as_of = (i64)rd64(m + 8);
	im.seed = rd64(m + 16);
	im.config_len = rd32(m + 24);
	im.nlookups = rd32(m + 28);
	if (im.config_len > len - 32) PAWL_TRAP();
	im.config = m + 32;
	im.lookups = m + 32 + im.config_len;
	im.end = m + len;
	pawl_plugin_init(&im);
	if (!failed) { top = mark; return 0; }
	/* the error message: out holds it (no reason header) */
	u8 *msg = out; u32 n = out_len;
	return result(msg, n);
}

int pawl_lookup(const pawl_init_msg *m, const char *name, const u8 **data, u32 *len) {
	const u8 *p = m->lookups;
	u32 nn = cstrlen(name);
	for (u32 k = 0; k < m->nlookups; k++) {
		if (m->end - p < 4) PAWL_TRAP();
		u32 l = rd32(p); p += 4;
		if ((u32)(m->end - p) < l) PAWL_TRAP();
		const u8 *nm = p; p += l;
		if (m->end - p < 4) PAWL_TRAP();
		u32 dl = rd32(p); p += 4;
		if ((u32)(m->end - p) < dl) PAWL_TRAP();
		if (pawl_memeq(nm, l, (const u8 *)name, nn)) { *data = p; *len = dl; return 1; }
		p += dl;
	}
	return 0;
}

/* column j's descriptor, checked against the message. */
static const u8 *desc(const pawl_batch *b, u32 col) {
	if (col >= b->ncols) PAWL_TRAP();
	return b->msg + 32 + 16 * col;
}
static void check_columns(const pawl_batch *b) {
	if (b->ncols > 64 || 32 + 16 * b->ncols > b->len) PAWL_TRAP();
	for (u32 j = 0; j < b->ncols; j++) {
		const u8 *d = b->msg + 32 + 16 * j;
		u32 type = rd32(d), po = rd32(d + 4), dofs = rd32(d + 8), dl = rd32(d + 12);
		u32 plen = (b->n + 7) / 8;
		if (po > b->len || plen > b->len - po || dofs > b->len || dl > b->len - dofs) PAWL_TRAP();
		if ((dofs & 7) != 0) PAWL_TRAP();
		switch (type) {
		case PAWL_NUMBER: if ((u64)b->n * 8 > dl) PAWL_TRAP(); break;
		case PAWL_BOOL: if (b->n > dl) PAWL_TRAP(); break;
		case PAWL_STRING: {
			if ((u64)(b->n + 1) * 4 > dl) PAWL_TRAP();
			const u8 *offs = b->msg + dofs;
			u32 nbytes = dl - (b->n + 1) * 4, prev = 0;
			PAWL_PER_RECORD
			for (u32 i = 0; i <= b->n; i++) {
				u32 o = rd32(offs + 4 * i);
				if (o < prev || o > nbytes) PAWL_TRAP();
				prev = o;
			}
			break;
		}
		default: PAWL_TRAP();
		}
	}
}
int pawl_present(const pawl_batch *b, u32 col, u32 i) {
	const u8 *d = desc(b, col);
	if (i >= b->n) PAWL_TRAP();
	return (b->msg[rd32(d + 4) + (i >> 3)] >> (i & 7)) & 1;
}
double pawl_number(const pawl_batch *b, u32 col, u32 i) {
	const u8 *d = desc(b, col);
	if (rd32(d) != PAWL_NUMBER || i >= b->n) PAWL_TRAP();
	u64 bits = rd64(b->msg + rd32(d + 8) + 8 * i);
	double v;
	memcpy(&v, &bits, 8);
	return v;
}
const u8 *pawl_string(const pawl_batch *b, u32 col, u32 i, u32 *len) {
	const u8 *d = desc(b, col);
	if (rd32(d) != PAWL_STRING || i >= b->n) PAWL_TRAP();
	const u8 *offs = b->msg + rd32(d + 8);
	u32 s = rd32(offs + 4 * i), e = rd32(offs + 4 * i + 4);
	*len = e - s;
	return offs + 4 * (b->n + 1) + s;
}

__attribute__((export_name("pawl_validate"))) i64 pawl_validate(u32 ptr, u32 len) {
	const u8 *m = (const u8 *)(usize)ptr;
	top = mark;
	if (len < 32 || rd32(m) != 0x31425750 || rd32(m + 4) != 1) PAWL_TRAP();
	pawl_batch b;
	b.msg = m; b.len = len;
	b.n = rd32(m + 8);
	b.ncols = rd32(m + 12);
	b.first = rd64(m + 16);
	b.as_of = (i64)rd64(m + 24);
	check_columns(&b);
	out_start();
	out_u32(0x31525750); out_u32(b.n); out_u32(0); out_u32(0);
	pawl_plugin_validate(&b);
	out_close();
	wr32(out + 8, out_reasons);
	return result(out, out_len);
}

/* ---- UTF-8 and Unicode ------------------------------------------------- */

u32 pawl_utf8_decode(const u8 *s, u32 n, u32 *w) {
	u32 c = s[0];
	*w = 1;
	if (c < 0x80) return c;
	u32 need, min, r;
	if (c >= 0xC2 && c <= 0xDF) { need = 1; min = 0x80; r = c & 0x1F; }
	else if (c >= 0xE0 && c <= 0xEF) { need = 2; min = 0x800; r = c & 0x0F; }
	else if (c >= 0xF0 && c <= 0xF4) { need = 3; min = 0x10000; r = c & 0x07; }
	else return 0xFFFD;
	if (n < need + 1) return 0xFFFD;
	for (u32 k = 1; k <= need; k++) {
		if ((s[k] & 0xC0) != 0x80) return 0xFFFD;
		r = r << 6 | (s[k] & 0x3F);
	}
	if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return 0xFFFD;
	*w = need + 1;
	return r;
}
u32 pawl_utf8_encode(u8 *o, u32 r) {
	if (r < 0x80) { o[0] = r; return 1; }
	if (r < 0x800) { o[0] = 0xC0 | r >> 6; o[1] = 0x80 | (r & 0x3F); return 2; }
	if (r < 0x10000) { o[0] = 0xE0 | r >> 12; o[1] = 0x80 | (r >> 6 & 0x3F); o[2] = 0x80 | (r & 0x3F); return 3; }
	o[0] = 0xF0 | r >> 18; o[1] = 0x80 | (r >> 12 & 0x3F); o[2] = 0x80 | (r >> 6 & 0x3F); o[3] = 0x80 | (r & 0x3F);
	return 4;
}
int pawl_utf8_valid(const u8 *s, u32 n) {
	for (u32 i = 0; i < n;) {
		u32 w, r = pawl_utf8_decode(s + i, n - i, &w);
		if (r == 0xFFFD && w == 1) return 0;
		i += w;
	}
	return 1;
}
int pawl_is_space(u32 r) {
	switch (r) {
	case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case 0x85: case 0xA0:
	case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
		return 1;
	}
	return r >= 0x2000 && r <= 0x200A;
}
u32 pawl_to_lower(u32 r) {
	u32 lo = 0, hi = sizeof pawl_lower / sizeof pawl_lower[0];
	while (lo < hi) {
		u32 m = (lo + hi) / 2;
		if (pawl_lower[m].hi < r) lo = m + 1; else hi = m;
	}
	if (lo < sizeof pawl_lower / sizeof pawl_lower[0] && pawl_lower[lo].lo <= r &&
	    (r - pawl_lower[lo].lo) % (u32)pawl_lower[lo].stride == 0)
		return r + pawl_lower[lo].delta;
	return r;
}
int pawl_is_print(u32 r) {
	u32 lo = 0, hi;
	if (r < 0x10000) {
		hi = sizeof pawl_print16 / sizeof pawl_print16[0];
		while (lo < hi) { u32 m = (lo + hi) / 2; if (pawl_print16[m][1] < r) lo = m + 1; else hi = m; }
		return lo < sizeof pawl_print16 / sizeof pawl_print16[0] && pawl_print16[lo][0] <= r;
	}
	hi = sizeof pawl_print32 / sizeof pawl_print32[0];
	while (lo < hi) { u32 m = (lo + hi) / 2; if (pawl_print32[m][1] < r) lo = m + 1; else hi = m; }
	return lo < sizeof pawl_print32 / sizeof pawl_print32[0] && pawl_print32[lo][0] <= r;
}

/* strconv.Quote: Go's escapes, \x for bad bytes, \u/\U for runes that are
 * not printable (strconv.IsPrint), the rest as is. */
static const char hexd[] = "0123456789abcdef";
/* plain8: each of the 8 bytes of x stands for itself in a quoted string
 * (0x20..0x7E, neither '"' nor '\\'): the usual case, copied 8 bytes at
 * a time. Each test says exactly whether any byte matches. */
static int plain8(u64 x) {
	const u64 ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	u64 q = x ^ (ones * '"'), bs = x ^ (ones * '\\'), del = x ^ (ones * 0x7F);
	u64 below = (x - ones * 0x20) & ~x;                                    /* a byte < 0x20 */
	u64 eq = ((q - ones) & ~q) | ((bs - ones) & ~bs) | ((del - ones) & ~del); /* '"', '\\', DEL */
	return ((x | below | eq) & high) == 0;                                  /* and none >= 0x80 */
}

void pawl_say_quote(const u8 *s, u32 n) {
	u8 buf[10];
	out_bytes((const u8 *)"\"", 1);
	for (u32 i = 0; i < n;) {
		u32 run = i;
		while (n - run >= 8 && plain8(pawl_load64(s + run))) run += 8;
		if (n - run < 8 && n >= 8 && plain8(pawl_load64(s + n - 8))) run = n; /* the rest is in the last 8 */
		if (run > i) {
			out_bytes(s + i, run - i);
			i = run;
			if (i == n) break;
		}
		u32 w, r = pawl_utf8_decode(s + i, n - i, &w);
		if (w == 1 && r == 0xFFFD) {
			buf[0] = '\\'; buf[1] = 'x'; buf[2] = hexd[s[i] >> 4]; buf[3] = hexd[s[i] & 15];
			out_bytes(buf, 4); i++; continue;
		}
		if (r == '"' || r == '\\') { buf[0] = '\\'; buf[1] = r; out_bytes(buf, 2); }
		else if (r < 0x80 && r >= 0x20 && r != 0x7F) { buf[0] = r; out_bytes(buf, 1); }
		else if (r >= 0x80 && pawl_is_print(r)) out_bytes(s + i, w);
		else {
			const char *e = 0;
			switch (r) {
			case '\a': e = "\\a"; break; case '\b': e = "\\b"; break; case '\f': e = "\\f"; break;
			case '\n': e = "\\n"; break; case '\r': e = "\\r"; break; case '\t': e = "\\t"; break;
			case '\v': e = "\\v"; break;
			}
			if (e) pawl_say(e);
			else if (r < ' ' || r == 0x7F) {
				buf[0] = '\\'; buf[1] = 'x'; buf[2] = hexd[r >> 4]; buf[3] = hexd[r & 15]; out_bytes(buf, 4);
			} else if (r < 0x10000) {
				buf[0] = '\\'; buf[1] = 'u';
				for (int k = 0; k < 4; k++) buf[2 + k] = hexd[(r >> (12 - 4 * k)) & 15];
				out_bytes(buf, 6);
			} else {
				buf[0] = '\\'; buf[1] = 'U';
				for (int k = 0; k < 8; k++) buf[2 + k] = hexd[(r >> (28 - 4 * k)) & 15];
				out_bytes(buf, 10);
			}
		}
		i += w;
	}
	out_bytes((const u8 *)"\"", 1);
}

void pawl_say_quote_value(const u8 *s, u32 n) {
	if (n <= 200) {
		pawl_say_quote(s, n);
		return;
	}
	u32 cut = 200;
	while (cut > 0 && (s[cut] & 0xC0) == 0x80) cut--;
	pawl_say_quote(s, cut);
	pawl_say("\xe2\x80\xa6 (");
	pawl_say_int((i64)n);
	pawl_say(" bytes)");
}

void pawl_say_int(i64 v) {
	u8 buf[24]; int n = 24;
	u64 u = v < 0 ? -(u64)v : (u64)v;
	do { buf[--n] = '0' + u % 10; u /= 10; } while (u);
	if (v < 0) buf[--n] = '-';
	out_bytes(buf + n, 24 - n);
}

/* ---- Go's strconv decimal, ported (internal/strconv/decimal.go, the
 * exact slow path of FormatFloat and ParseFloat), with 64-bit words as
 * Go has on 64-bit platforms. ------------------------------------------ */

typedef struct { u8 d[800]; int nd, dp, neg, trunc; } decimal;
#define MAXSHIFT 60

static void trim(decimal *a) {
	while (a->nd > 0 && a->d[a->nd - 1] == '0') a->nd--;
	if (a->nd == 0) a->dp = 0;
}
static void assign(decimal *a, u64 v) {
	u8 buf[24]; int n = 0;
	while (v > 0) { u64 v1 = v / 10; buf[n++] = (u8)(v - 10 * v1 + '0'); v = v1; }
	a->nd = 0;
	for (n--; n >= 0; n--) a->d[a->nd++] = buf[n];
	a->dp = a->nd;
	trim(a);
}
static void right_shift(decimal *a, u32 k) {
	int r = 0, w = 0;
	u64 n = 0;
	for (; (n >> k) == 0; r++) {
		if (r >= a->nd) {
			if (n == 0) { a->nd = 0; return; }
			while ((n >> k) == 0) { n *= 10; r++; }
			break;
		}
		n = n * 10 + a->d[r] - '0';
	}
	a->dp -= r - 1;
	u64 mask = (1ull << k) - 1;
	for (; r < a->nd; r++) {
		u64 c = a->d[r], dig = n >> k;
		n &= mask;
		a->d[w++] = (u8)(dig + '0');
		n = n * 10 + c - '0';
	}
	while (n > 0) {
		u64 dig = n >> k;
		n &= mask;
		if (w < 800) a->d[w++] = (u8)(dig + '0');
		else if (dig > 0) a->trunc = 1;
		n *= 10;
	}
	a->nd = w;
	trim(a);
}
/* leftcheats[k]: the number of new digits a shift by k makes, and 5^k
 * (minus one digit if the decimal's prefix is below it), k <= 60. */
static const struct { int delta; const char *cutoff; } leftcheats[] = {
	{0, ""}, {1, "5"}, {1, "25"}, {1, "125"}, {2, "625"}, {2, "3125"}, {2, "15625"}, {3, "78125"}, {3, "390625"},
	{3, "1953125"}, {4, "9765625"}, {4, "48828125"}, {4, "244140625"}, {4, "1220703125"}, {5, "6103515625"}, {5,
	"30517578125"}, {5, "152587890625"}, {6, "762939453125"}, {6, "3814697265625"}, {6, "19073486328125"}, {7,
	"95367431640625"}, {7, "476837158203125"}, {7, "2384185791015625"}, {7, "11920928955078125"}, {8,
	"59604644775390625"}, {8, "298023223876953125"}, {8, "1490116119384765625"}, {9, "7450580596923828125"}, {9,
	"37252902984619140625"}, {9, "186264514923095703125"}, {10, "931322574615478515625"}, {10,
	"4656612873077392578125"}, {10, "23283064365386962890625"}, {10, "116415321826934814453125"}, {11,
	"582076609134674072265625"}, {11, "2910383045673370361328125"}, {11, "14551915228366851806640625"}, {12,
	"72759576141834259033203125"}, {12, "363797880709171295166015625"}, {12, "1818989403545856475830078125"},
	{13, "9094947017729282379150390625"}, {13, "45474735088646411895751953125"}, {13,
	"227373675443232059478759765625"}, {13, "1136868377216160297393798828125"}, {14,
	"5684341886080801486968994140625"}, {14, "28421709430404007434844970703125"}, {14,
	"142108547152020037174224853515625"}, {15, "710542735760100185871124267578125"}, {15,
	"3552713678800500929355621337890625"}, {15, "17763568394002504646778106689453125"}, {16,
	"88817841970012523233890533447265625"}, {16, "444089209850062616169452667236328125"}, {16,
	"2220446049250313080847263336181640625"}, {16, "11102230246251565404236316680908203125"}, {17,
	"55511151231257827021181583404541015625"}, {17, "277555756156289135105907917022705078125"}, {17,
	"1387778780781445675529539585113525390625"}, {18, "6938893903907228377647697925567626953125"}, {18,
	"34694469519536141888238489627838134765625"}, {18, "173472347597680709441192448139190673828125"}, {19,
	"867361737988403547205962240695953369140625"},
};
static int prefix_less(const u8 *b, int nb, const char *s) {
	for (int i = 0; s[i]; i++) {
		if (i >= nb) return 1;
		if (b[i] != (u8)s[i]) return b[i] < (u8)s[i];
	}
	return 0;
}
static void left_shift(decimal *a, u32 k) {
	int delta = leftcheats[k].delta;
	if (prefix_less(a->d, a->nd, leftcheats[k].cutoff)) delta--;
	int r = a->nd, w = a->nd + delta;
	u64 n = 0;
	for (r--; r >= 0; r--) {
		n += (u64)(a->d[r] - '0') << k;
		u64 quo = n / 10, rem = n - 10 * quo;
		w--;
		if (w < 800) a->d[w] = (u8)(rem + '0');
		else if (rem != 0) a->trunc = 1;
		n = quo;
	}
	while (n > 0) {
		u64 quo = n / 10, rem = n - 10 * quo;
		w--;
		if (w < 800) a->d[w] = (u8)(rem + '0');
		else if (rem != 0) a->trunc = 1;
		n = quo;
	}
	a->nd += delta;
	if (a->nd >= 800) a->nd = 800;
	a->dp += delta;
	trim(a);
}
static void shift(decimal *a, int k) {
	if (a->nd == 0) return;
	if (k > 0) {
		while (k > MAXSHIFT) { left_shift(a, MAXSHIFT); k -= MAXSHIFT; }
		left_shift(a, (u32)k);
	} else if (k < 0) {
		while (k < -MAXSHIFT) { right_shift(a, MAXSHIFT); k += MAXSHIFT; }
		right_shift(a, (u32)-k);
	}
}
static int should_round_up(const decimal *a, int nd) {
	if (nd < 0 || nd >= a->nd) return 0;
	if (a->d[nd] == '5' && nd + 1 == a->nd) {
		if (a->trunc) return 1;
		return nd > 0 && (a->d[nd - 1] - '0') % 2 != 0;
	}
	return a->d[nd] >= '5';
}
static void round_down(decimal *a, int nd) {
	if (nd < 0 || nd >= a->nd) return;
	a->nd = nd;
	trim(a);
}
static void round_up(decimal *a, int nd) {
	if (nd < 0 || nd >= a->nd) return;
	for (int i = nd - 1; i >= 0; i--) {
		if (a->d[i] < '9') { a->d[i]++; a->nd = i + 1; return; }
	}
	a->d[0] = '1'; a->nd = 1; a->dp++;
}
static void round_nd(decimal *a, int nd) {
	if (nd < 0 || nd >= a->nd) return;
	if (should_round_up(a, nd)) round_up(a, nd); else round_down(a, nd);
}
static u64 rounded_integer(const decimal *a) {
	if (a->dp > 20) return ~0ull;
	int i; u64 n = 0;
	for (i = 0; i < a->dp && i < a->nd; i++) n = n * 10 + (a->d[i] - '0');
	for (; i < a->dp; i++) n *= 10;
	if (should_round_up(a, a->dp)) n++;
	return n;
}

#define MANTBITS 52
#define BIAS (-1023)

/* roundShortest (ftoa.go): the shortest digits that read back as the
 * same float64, the closest of them. */
static void round_shortest(decimal *d, u64 mant, int exp) {
	if (mant == 0) { d->nd = 0; return; }
	int minexp = BIAS + 1;
	if (exp > minexp && 332 * (d->dp - d->nd) >= 100 * (exp - MANTBITS)) return;
	static decimal upper, lower;
	upper.trunc = lower.trunc = 0;
	assign(&upper, mant * 2 + 1);
	shift(&upper, exp - MANTBITS - 1);
	u64 mantlo; int explo;
	if (mant > 1ull << MANTBITS || exp == minexp) { mantlo = mant - 1; explo = exp; }
	else { mantlo = mant * 2 - 1; explo = exp - 1; }
	assign(&lower, mantlo * 2 + 1);
	shift(&lower, explo - MANTBITS - 1);
	int inclusive = mant % 2 == 0;
	int upperdelta = 0;
	for (int ui = 0;; ui++) {
		int mi = ui - upper.dp + d->dp;
		if (mi >= d->nd) break;
		int li = ui - upper.dp + lower.dp;
		u8 l = '0', m = '0', u = '0';
		if (li >= 0 && li < lower.nd) l = lower.d[li];
		if (mi >= 0) m = d->d[mi];
		if (ui < upper.nd) u = upper.d[ui];
		int okdown = l != m || (inclusive && li + 1 == lower.nd);
		if (upperdelta == 0 && m + 1 < u) upperdelta = 2;
		else if (upperdelta == 0 && m != u) upperdelta = 1;
		else if (upperdelta == 1 && (m != '9' || u != '0')) upperdelta = 2;
		int okup = upperdelta > 0 && (inclusive || upperdelta > 1 || ui + 1 < upper.nd);
		if (okdown && okup) { round_nd(d, mi + 1); return; }
		if (okdown) { round_down(d, mi + 1); return; }
		if (okup) { round_up(d, mi + 1); return; }
	}
}

typedef struct { char *b; u32 n, cap; } sbuf;
static void sb_put(sbuf *s, char c) { if (s->n < s->cap) s->b[s->n] = c; s->n++; }

static void fmt_e(sbuf *o, int neg, const decimal *d, int prec) {
	if (neg) sb_put(o, '-');
	sb_put(o, d->nd ? d->d[0] : '0');
	if (prec > 0) {
		sb_put(o, '.');
		int i = 1, m = d->nd < prec + 1 ? d->nd : prec + 1;
		for (; i < m; i++) sb_put(o, d->d[i]);
		for (; i <= prec; i++) sb_put(o, '0');
	}
	sb_put(o, 'e');
	int exp = d->nd == 0 ? 0 : d->dp - 1;
	if (exp < 0) { sb_put(o, '-'); exp = -exp; } else sb_put(o, '+');
	if (exp < 10) { sb_put(o, '0'); sb_put(o, '0' + exp); }
	else if (exp < 100) { sb_put(o, '0' + exp / 10); sb_put(o, '0' + exp % 10); }
	else { sb_put(o, '0' + exp / 100); sb_put(o, '0' + exp / 10 % 10); sb_put(o, '0' + exp % 10); }
}
static void fmt_f(sbuf *o, int neg, const decimal *d, int prec) {
	if (neg) sb_put(o, '-');
	if (d->dp > 0) {
		int m = d->nd < d->dp ? d->nd : d->dp;
		for (int i = 0; i < m; i++) sb_put(o, d->d[i]);
		for (; m < d->dp; m++) sb_put(o, '0');
	} else sb_put(o, '0');
	if (prec > 0) {
		sb_put(o, '.');
		for (int i = 0; i < prec; i++) {
			int j = d->dp + i;
			sb_put(o, (0 <= j && j < d->nd) ? d->d[j] : '0');
		}
	}
}

/* pawl_format is strconv.FormatFloat(v, fmt, prec, 64) for fmt 'e', 'f',
 * 'g' (Go's exact path: bigFtoa and formatDigits). */
u32 pawl_format(char *buf, u32 cap, double v, char fmt, int prec) {
	sbuf o = {buf, 0, cap};
	u64 bits;
	memcpy(&bits, &v, 8);
	int neg = bits >> 63;
	int exp = (int)(bits >> MANTBITS) & 0x7FF;
	u64 mant = bits & ((1ull << MANTBITS) - 1);
	if (exp == 0x7FF) {
		const char *s = mant ? "NaN" : neg ? "-Inf" : "+Inf";
		while (*s) sb_put(&o, *s++);
		return o.n;
	}
	if (exp == 0) exp++;
	else mant |= 1ull << MANTBITS;
	exp += BIAS;
	static decimal d;
	d.trunc = 0;
	assign(&d, mant);
	shift(&d, exp - MANTBITS);
	int shortest = prec < 0;
	if (shortest) {
		round_shortest(&d, mant, exp);
		if (fmt == 'e') prec = d.nd - 1;
		else if (fmt == 'f') prec = d.nd - d.dp > 0 ? d.nd - d.dp : 0;
		else prec = d.nd;
	} else if (fmt == 'e') round_nd(&d, prec + 1);
	else if (fmt == 'f') round_nd(&d, d.dp + prec);
	else { if (prec == 0) prec = 1; round_nd(&d, prec); }
	if (fmt == 'e') fmt_e(&o, neg, &d, prec);
	else if (fmt == 'f') fmt_f(&o, neg, &d, prec);
	else {
		int eprec = prec;
		if (eprec > d.nd && d.nd >= d.dp) eprec = d.nd;
		if (shortest) eprec = 6;
		int x = d.dp - 1;
		if (x < -4 || x >= eprec) {
			if (prec > d.nd) prec = d.nd;
			fmt_e(&o, neg, &d, prec - 1);
		} else {
			if (prec > d.dp) prec = d.nd;
			fmt_f(&o, neg, &d, prec - d.dp > 0 ? prec - d.dp : 0);
		}
	}
	return o.n;
}

void pawl_say_fmt(double v, char fmt, int prec) {
	char buf[64];
	u32 n = pawl_format(buf, sizeof buf, v, fmt, prec);
	if (n <= sizeof buf) { out_bytes((const u8 *)buf, n); return; }
	char *big = pawl_scratch(n); /* 'f' of a large value */
	pawl_format(big, n, v, fmt, prec);
	out_bytes((const u8 *)big, n);
}
void pawl_say_g(double v) { pawl_say_fmt(v, 'g', -1); }

/* decimal.set and floatBits (atof.go): JSON's number grammar only (the
 * caller checked it), correctly rounded. */
static const int powtab[] = {1, 3, 6, 9, 13, 16, 19, 23, 26};
int pawl_parse_float(const u8 *s, u32 n, double *outv) {
	static decimal b;
	u32 i = 0;
	b.neg = b.trunc = 0; b.nd = b.dp = 0;
	if (i < n && s[i] == '-') { b.neg = 1; i++; }
	int sawdot = 0, sawdigits = 0;
	for (; i < n; i++) {
		if (s[i] == '.') { if (sawdot) return 0; sawdot = 1; b.dp = b.nd; continue; }
		if (s[i] >= '0' && s[i] <= '9') {
			sawdigits = 1;
			if (s[i] == '0' && b.nd == 0) { b.dp--; continue; }
			if (b.nd < 800) b.d[b.nd++] = s[i];
			else if (s[i] != '0') b.trunc = 1;
			continue;
		}
		break;
	}
	if (!sawdigits) return 0;
	if (!sawdot) b.dp = b.nd;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i >= n) return 0;
		int esign = 1;
		if (s[i] == '+') i++;
		else if (s[i] == '-') { i++; esign = -1; }
		if (i >= n || s[i] < '0' || s[i] > '9') return 0;
		int e = 0;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) if (e < 10000) e = e * 10 + s[i] - '0';
		b.dp += e * esign;
	}
	if (i != n) return 0;
	/* floatBits */
	int exp; u64 mant;
	if (b.nd == 0) { mant = 0; exp = BIAS; goto out; }
	if (b.dp > 310) return 0;
	if (b.dp < -330) { mant = 0; exp = BIAS; goto out; }
	exp = 0;
	while (b.dp > 0) { int k = b.dp >= 9 ? 27 : powtab[b.dp]; shift(&b, -k); exp += k; }
	while (b.dp < 0 || (b.dp == 0 && b.d[0] < '5')) { int k = -b.dp >= 9 ? 27 : powtab[-b.dp]; shift(&b, k); exp -= k; }
	exp--;
	if (exp < BIAS + 1) { int k = BIAS + 1 - exp; shift(&b, -k); exp += k; }
	if (exp - BIAS >= 0x7FF) return 0;
	shift(&b, 1 + MANTBITS);
	mant = rounded_integer(&b);
	if (mant == 2ull << MANTBITS) { mant >>= 1; exp++; if (exp - BIAS >= 0x7FF) return 0; }
	if ((mant & (1ull << MANTBITS)) == 0) exp = BIAS;
out:;
	u64 bits = mant & ((1ull << MANTBITS) - 1);
	bits |= (u64)((exp - BIAS) & 0x7FF) << MANTBITS;
	if (b.neg) bits |= 1ull << 63;
	memcpy(outv, &bits, 8);
	return 1;
}

/* ---- JSON -------------------------------------------------------------- */

static void ws(pawl_json *j) {
	while (j->s < j->end && (*j->s == ' ' || *j->s == '\t' || *j->s == '\n' || *j->s == '\r')) j->s++;
}
static int jerr(pawl_json *j, const char *e) { if (!j->err) j->err = e; return PJ_ERR; }
int pawl_json_peek(pawl_json *j) {
	if (j->err) return PJ_ERR;
	ws(j);
	if (j->s >= j->end) return jerr(j, "unexpected end of JSON input");
	switch (*j->s) {
	case 'n': return PJ_NULL;
	case 't': return PJ_TRUE;
	case 'f': return PJ_FALSE;
	case '"': return PJ_STRING;
	case '{': return PJ_OBJECT;
	case '[': return PJ_ARRAY;
	}
	if (*j->s == '-' || (*j->s >= '0' && *j->s <= '9')) return PJ_NUMBER;
	return jerr(j, "invalid character in JSON");
}
const char *pawl_json_kind_name(int k) {
	switch (k) {
	case PJ_NULL: return "null"; case PJ_TRUE: case PJ_FALSE: return "bool";
	case PJ_NUMBER: return "number"; case PJ_STRING: return "string";
	case PJ_OBJECT: return "object"; case PJ_ARRAY: return "array";
	}
	return "?";
}
static int hexval(u8 c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}
static int hex4(pawl_json *j, u32 *r) {
	if (j->end - j->s < 4) return 0;
	*r = 0;
	for (int k = 0; k < 4; k++) { int h = hexval(j->s[k]); if (h < 0) return 0; *r = *r << 4 | h; }
	j->s += 4;
	return 1;
}
int pawl_json_string(pawl_json *j, u8 **outs, u32 *len) {
	if (pawl_json_peek(j) != PJ_STRING) return jerr(j, "expected a JSON string"), 0;
	j->s++;
	const u8 *st = j->s;
	while (j->s < j->end && *j->s != '"') { if (*j->s == '\\') j->s++; j->s++; }
	if (j->s >= j->end) return jerr(j, "unexpected end of JSON input"), 0;
	u32 raw = j->s - st;
	u8 *o = pawl_keep(raw + 1); /* escapes only shrink */
	u32 n = 0;
	j->s = st;
	while (*j->s != '"') {
		u8 c = *j->s;
		if (c < 0x20) return jerr(j, "invalid control character in JSON string"), 0;
		if (c != '\\') { o[n++] = c; j->s++; continue; }
		j->s++;
		c = *j->s++;
		switch (c) {
		case '"': case '\\': case '/': o[n++] = c; break;
		case 'b': o[n++] = '\b'; break; case 'f': o[n++] = '\f'; break; case 'n': o[n++] = '\n'; break;
		case 'r': o[n++] = '\r'; break; case 't': o[n++] = '\t'; break;
		case 'u': {
			u32 r;
			if (!hex4(j, &r)) return jerr(j, "invalid \\u escape in JSON string"), 0;
			if (r >= 0xD800 && r < 0xDC00) {
				u32 r2;
				const u8 *save = j->s;
				if (j->end - j->s >= 6 && j->s[0] == '\\' && j->s[1] == 'u' && (j->s += 2, hex4(j, &r2)) && r2 >= 0xDC00 && r2 < 0xE000)
					r = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
				else { j->s = save; r = 0xFFFD; }
			} else if (r >= 0xDC00 && r < 0xE000) r = 0xFFFD;
			n += pawl_utf8_encode(o + n, r); /* at most 6 escape bytes became at most 4 */
			break;
		}
		default: return jerr(j, "invalid escape in JSON string"), 0;
		}
	}
	j->s++;
	if (!pawl_utf8_valid(o, n)) return jerr(j, "invalid UTF-8 in JSON string"), 0;
	*outs = o; *len = n;
	return 1;
}
int pawl_json_number(pawl_json *j, double *v) {
	if (pawl_json_peek(j) != PJ_NUMBER) return jerr(j, "expected a JSON number"), 0;
	const u8 *st = j->s;
	if (*j->s == '-') j->s++;
	if (j->s < j->end && *j->s == '0') j->s++;
	else if (j->s < j->end && *j->s >= '1' && *j->s <= '9') while (j->s < j->end && *j->s >= '0' && *j->s <= '9') j->s++;
	else return jerr(j, "invalid number in JSON"), 0;
	if (j->s < j->end && *j->s == '.') {
		j->s++;
		if (j->s >= j->end || *j->s < '0' || *j->s > '9') return jerr(j, "invalid number in JSON"), 0;
		while (j->s < j->end && *j->s >= '0' && *j->s <= '9') j->s++;
	}
	if (j->s < j->end && (*j->s == 'e' || *j->s == 'E')) {
		j->s++;
		if (j->s < j->end && (*j->s == '+' || *j->s == '-')) j->s++;
		if (j->s >= j->end || *j->s < '0' || *j->s > '9') return jerr(j, "invalid number in JSON"), 0;
		while (j->s < j->end && *j->s >= '0' && *j->s <= '9') j->s++;
	}
	if (!pawl_parse_float(st, j->s - st, v)) return jerr(j, "a number in JSON is out of range for a float64"), 0;
	return 1;
}
static int lit(pawl_json *j, const char *w) {
	for (; *w; w++, j->s++) if (j->s >= j->end || *j->s != (u8)*w) return jerr(j, "invalid literal in JSON"), 0;
	return 1;
}
int pawl_json_object_next(pawl_json *j, int *first, u8 **key, u32 *klen) {
	if (j->err) return -1;
	ws(j);
	if (*first) { j->s++; ws(j); *first = 0; if (j->s < j->end && *j->s == '}') { j->s++; return 0; } }
	else {
		if (j->s >= j->end) return jerr(j, "unexpected end of JSON input"), -1;
		if (*j->s == '}') { j->s++; return 0; }
		if (*j->s != ',') return jerr(j, "invalid character after a JSON object value"), -1;
		j->s++;
	}
	if (!pawl_json_string(j, key, klen)) return -1;
	ws(j);
	if (j->s >= j->end || *j->s != ':') return jerr(j, "invalid character after a JSON object key"), -1;
	j->s++;
	return 1;
}
int pawl_json_skip(pawl_json *j) {
	double v; u8 *s; u32 n;
	switch (pawl_json_peek(j)) {
	case PJ_NULL: return lit(j, "null");
	case PJ_TRUE: return lit(j, "true");
	case PJ_FALSE: return lit(j, "false");
	case PJ_NUMBER: return pawl_json_number(j, &v);
	case PJ_STRING: return pawl_json_string(j, &s, &n);
	case PJ_OBJECT: {
		int first = 1, r;
		while ((r = pawl_json_object_next(j, &first, &s, &n)) == 1) if (!pawl_json_skip(j)) return 0;
		return r == 0;
	}
	case PJ_ARRAY: {
		j->s++; ws(j);
		if (j->s < j->end && *j->s == ']') { j->s++; return 1; }
		for (;;) {
			if (!pawl_json_skip(j)) return 0;
			ws(j);
			if (j->s >= j->end) return jerr(j, "unexpected end of JSON input"), 0;
			if (*j->s == ']') { j->s++; return 1; }
			if (*j->s != ',') return jerr(j, "invalid character after a JSON array element"), 0;
			j->s++;
		}
	}
	}
	return 0;
}
