/* pawl.h: the plugin ABI (docs/plugin-abi.md) for freestanding C guests,
 * and the helpers the first-party C plugins share (pawl.c): a bump
 * allocator, the batch and init messages, the result writer, a small JSON
 * reader for configs, and Go-compatible formatting (strconv.FormatFloat,
 * strconv.Quote, strconv.Itoa) so that the messages are byte for byte
 * the ones the Go versions of the plugins wrote.
 *
 * A plugin defines pawl_plugin_init and pawl_plugin_validate; pawl.c
 * exports pawl_alloc, pawl_init and pawl_validate around them. */
#ifndef PAWL_H
#define PAWL_H

#include "pawl_abi.h" /* the ABI itself: the wire format and the host's imports */

typedef unsigned char u8;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
typedef long long i64;
typedef unsigned long usize;

#define PAWL_TRAP() __builtin_trap()

/* PAWL_PER_RECORD goes before a loop over a batch's records: unrolled 8
 * times, the loop's head (where the sandbox checks, through the host,
 * whether the call was stopped: pawl.c) runs once per 8 records. */
#define PAWL_PER_RECORD _Pragma("clang loop unroll_count(8)")

/* Memory. pawl_keep allocates for the life of the instance (at init);
 * pawl_scratch for the current call only. */
void *pawl_keep(u32 n);
void *pawl_scratch(u32 n);
void *memcpy(void *d, const void *s, usize n);
void *memset(void *d, int c, usize n);
int pawl_memeq(const u8 *a, u32 an, const u8 *b, u32 bn);
usize strlen(const char *s);
/* pawl_load64 reads 8 bytes at p (any alignment), little-endian. */
u64 pawl_load64(const u8 *p);
int pawl_memcmp(const u8 *a, u32 an, const u8 *b, u32 bn);

/* The init message (§3.2). */
typedef struct {
	i64 as_of;     /* Unix nanoseconds */
	u64 seed;
	const u8 *config;
	u32 config_len;
	u32 nlookups;
	const u8 *lookups; /* L × (u32 name length, name, u32 data length, data) */
	const u8 *end;
} pawl_init_msg;

/* pawl_lookup finds the lookup file called name; 0 if absent. */
int pawl_lookup(const pawl_init_msg *m, const char *name, const u8 **data, u32 *len);

/* The batch message (§3.3), checked: every column's sections lie inside
 * the message (else the call traps). */
enum { PAWL_NUMBER = 1, PAWL_STRING = 2, PAWL_BOOL = 3 };
typedef struct {
	u32 n, ncols;
	u64 first;
	i64 as_of;
	const u8 *msg;
	u32 len;
} pawl_batch;

int pawl_present(const pawl_batch *b, u32 col, u32 i);
/* pawl_number returns record i of a number column (0 when absent). */
double pawl_number(const pawl_batch *b, u32 col, u32 i);
/* pawl_string returns record i of a string column: its bytes and length. */
const u8 *pawl_string(const pawl_batch *b, u32 col, u32 i, u32 *len);

/* Results. pawl_reject starts a reason; pawl_say and the pawl_say_*
 * helpers append to its message; the next pawl_reject or the end of the
 * call closes it. */
void pawl_reject(u32 record, u32 field, const char *rule);
void pawl_say(const char *s);
void pawl_say_bytes(const u8 *s, u32 n);
void pawl_reject_n(u32 record, u32 field, const char *rule, u32 rule_len);
/* With a literal, the length is known when compiling: no loop over the
 * text in the sandbox (pawl.c says why loops matter). Any other argument
 * is evaluated once, by the function. */
#define pawl_say(s) (__builtin_constant_p(__builtin_strlen(s)) \
	? pawl_say_bytes((const u8 *)(s), (u32)__builtin_strlen(s)) : (pawl_say)(s))
#define pawl_reject(i, f, rule) (__builtin_constant_p(__builtin_strlen(rule)) \
	? pawl_reject_n((i), (f), (rule), (u32)__builtin_strlen(rule)) : (pawl_reject)((i), (f), (rule)))
void pawl_say_g(double v);               /* strconv.FormatFloat(v, 'g', -1, 64) */
void pawl_say_fmt(double v, char fmt, int prec); /* strconv.FormatFloat(v, fmt, prec, 64), fmt 'e' 'f' 'g' */
void pawl_say_quote(const u8 *s, u32 n); /* strconv.Quote */
/* pdk.QuoteValue: strconv.Quote of at most the value's first 200 bytes
 * (cut where a UTF-8 sequence starts), then "… (N bytes)" when it is
 * longer, so that a long value in a record never makes a message longer
 * than the ABI's 4096 bytes. */
void pawl_say_quote_value(const u8 *s, u32 n);
void pawl_say_int(i64 v);                /* strconv.Itoa */

/* An init error: pawl_fail starts it (replacing any earlier one), the
 * pawl_say helpers append to it. */
void pawl_fail(const char *s);
int pawl_failed(void);

/* Go-compatible number text into buf (at least 32 bytes for 'g' -1;
 * more for 'f' of large values): returns the length. */
u32 pawl_format(char *buf, u32 cap, double v, char fmt, int prec);
/* pawl_parse_float reads a JSON number's text exactly as strconv.ParseFloat
 * (correctly rounded); 0 on a syntax error or overflow. */
int pawl_parse_float(const u8 *s, u32 n, double *out);

/* UTF-8: pawl_utf8_decode returns the rune at s (0xFFFD, width 1 for a
 * bad byte) and sets *w. */
u32 pawl_utf8_decode(const u8 *s, u32 n, u32 *w);
u32 pawl_utf8_encode(u8 *out, u32 r);
int pawl_utf8_valid(const u8 *s, u32 n);
int pawl_is_space(u32 r);  /* unicode.IsSpace */
u32 pawl_to_lower(u32 r);  /* unicode.ToLower */
int pawl_is_print(u32 r);  /* strconv.IsPrint */

/* JSON (a config the host has checked against the manifest's schema; the
 * reader is strict anyway: any error is an init error). */
typedef struct {
	const u8 *s, *end;
	const char *err; /* first error, or 0 */
} pawl_json;
enum { PJ_ERR, PJ_NULL, PJ_TRUE, PJ_FALSE, PJ_NUMBER, PJ_STRING, PJ_OBJECT, PJ_ARRAY };
/* pawl_json_peek returns the kind of the next value without reading it. */
int pawl_json_peek(pawl_json *j);
/* pawl_json_string reads a string into newly kept memory. */
int pawl_json_string(pawl_json *j, u8 **out, u32 *len);
int pawl_json_number(pawl_json *j, double *out);
/* pawl_json_object_next: call after peek == PJ_OBJECT, first with *first
 * = 1; returns 1 with the next key (kept memory), 0 at the closing brace,
 * -1 on an error. */
int pawl_json_object_next(pawl_json *j, int *first, u8 **key, u32 *klen);
int pawl_json_skip(pawl_json *j);
const char *pawl_json_kind_name(int kind); /* as encoding/json names it */

/* What a plugin defines. */
void pawl_plugin_init(const pawl_init_msg *m);
void pawl_plugin_validate(const pawl_batch *b);

/* The host state (§8): pawl_state_get and pawl_state_put, declared in
 * pawl_abi.h. */

#endif
