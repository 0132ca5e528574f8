/* pawl_abi.h: pawl's plugin ABI, version 1 (docs/plugin-abi.md), for C
 * guests and any language that reads C headers. It declares the wire
 * format and the host's imports; it defines nothing, allocates nothing
 * and needs no libc. A guest built on it alone exports, with exactly these
 * signatures (clang: __attribute__((export_name("…")))):
 *
 *   memory
 *   unsigned int       pawl_alloc(unsigned int size);          (§3.1: 8-aligned, kept alive)
 *   unsigned long long pawl_init(unsigned int ptr, unsigned int len);     (§3.2)
 *   unsigned long long pawl_validate(unsigned int ptr, unsigned int len); (§3.3)
 *
 * A result is PAWL_RESULT(ptr, len); 0 is the empty result: for
 * pawl_init "ready", for pawl_validate "every record passes, nothing
 * replaced". All integers are little-endian; offsets are from the start
 * of the message. plugins/c/pawl.h and pawl.c are a runtime built on this
 * header (an allocator, column access, the result writer, a JSON reader
 * for configs); engine/sandbox/testdata/vectors holds batches and results
 * as files to check a guest's reading and writing against. */
#ifndef PAWL_ABI_H
#define PAWL_ABI_H

#define PAWL_ABI_VERSION 1

/* Magics: the first u32 of each message. */
#define PAWL_MAGIC_INIT   0x31495750u /* "PWI1" */
#define PAWL_MAGIC_BATCH  0x31425750u /* "PWB1" */
#define PAWL_MAGIC_RESULT 0x31525750u /* "PWR1" */

/* The init message (§3.2): header, then the config (JSON), then the
 * lookups, each u32 name length, name, u32 data length, data. */
#define PAWL_INIT_MAGIC       0  /* u32 */
#define PAWL_INIT_ABI         4  /* u32, PAWL_ABI_VERSION */
#define PAWL_INIT_AS_OF       8  /* i64, Unix nanoseconds */
#define PAWL_INIT_SEED        16 /* u64 */
#define PAWL_INIT_CONFIG_LEN  24 /* u32 */
#define PAWL_INIT_LOOKUPS     28 /* u32, count */
#define PAWL_INIT_HEADER      32 /* the config starts here */

/* The batch message (§3.3): a 32-byte header, one 16-byte descriptor per
 * column (the manifest's fields, in order), then the columns' sections,
 * each 8-aligned. N is at least 1; the host sends at most 512 records a
 * batch today (docs/plugin-abi.md §3.3), but a guest must take any N. */
#define PAWL_BATCH_MAGIC      0  /* u32 */
#define PAWL_BATCH_ABI        4  /* u32 */
#define PAWL_BATCH_N          8  /* u32, records */
#define PAWL_BATCH_COLUMNS    12 /* u32 */
#define PAWL_BATCH_FIRST      16 /* u64, index in the run of record 0 */
#define PAWL_BATCH_AS_OF      24 /* i64, Unix nanoseconds */
#define PAWL_BATCH_HEADER     32
#define PAWL_COLUMN_SIZE      16 /* descriptor j at PAWL_BATCH_HEADER + 16*j: */
#define PAWL_COLUMN_TYPE      0  /* u32, PAWL_TYPE_* */
#define PAWL_COLUMN_PRESENCE  4  /* u32, offset of ceil(N/8) bytes; bit i&7 of byte i>>3 */
#define PAWL_COLUMN_DATA      8  /* u32, offset of the data */
#define PAWL_COLUMN_DATA_LEN  12 /* u32 */

/* Column types and their data. */
#define PAWL_TYPE_NUMBER 1 /* N x f64; an absent value is 0 */
#define PAWL_TYPE_STRING 2 /* (N+1) x u32 offsets, then UTF-8 (NFC): record i is bytes[off[i]:off[i+1]] */
#define PAWL_TYPE_BOOL   3 /* N bytes, 0 or 1 */

/* The result message (§3.4): header, R reasons, P replacements, nothing
 * after. A reason: u32 record, u32 field (or PAWL_FIELD_RECORD), u32 rule
 * length, rule, u32 message length, message. A replacement: u32 record,
 * u32 field, u8 type (PAWL_REPLACE_REMOVE or a PAWL_TYPE_*), the value. */
#define PAWL_RESULT_MAGIC        0  /* u32 */
#define PAWL_RESULT_N            4  /* u32, the batch's N */
#define PAWL_RESULT_REASONS      8  /* u32 */
#define PAWL_RESULT_REPLACEMENTS 12 /* u32 */
#define PAWL_RESULT_HEADER       16
#define PAWL_FIELD_RECORD        0xFFFFFFFFu /* a reason about the record as a whole */
#define PAWL_RULE_MAX            128  /* bytes, at least 1 */
#define PAWL_MESSAGE_MAX         4096 /* bytes; longer fails the whole batch */
#define PAWL_REPLACE_REMOVE      0

/* A call's result: (ptr << 32) | len. */
#define PAWL_RESULT(ptr, len) ((((unsigned long long)(ptr)) << 32) | (unsigned long long)(len))

/* The host state (§8), only for a module whose manifest declares
 * "state"; any other that imports these is refused at load. */
__attribute__((import_module("pawl"), import_name("state_get")))
int pawl_state_get(const unsigned char *key, unsigned int key_len, unsigned char *buf, unsigned int cap);
__attribute__((import_module("pawl"), import_name("state_put")))
int pawl_state_put(const unsigned char *key, unsigned int key_len, const unsigned char *val, unsigned int val_len);

/* pawl.log: appended to the instance's captured output (evidence for
 * errors, never part of a verdict). */
__attribute__((import_module("pawl"), import_name("log")))
void pawl_log(const unsigned char *s, unsigned int len);

#endif
