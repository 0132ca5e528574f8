#!/usr/bin/env python3
"""Verify a pawl audit trail with nothing but Python's standard library.

Usage: python3 verify-trail.py audit.db [CHECKPOINT_SIZE CHECKPOINT_ROOT_BASE64]
       python3 verify-trail.py --vectors testdata/canonical-json/vectors.json

Checks every entry's hash and its link to the previous entry, that its time
is in the trail's fixed-width UTC form and not before the previous entry's
(entry times never go backwards), and that its details are in canonical JSON
form, as described in docs/audit-format.md, and
prints the RFC 6962 tree root over the entry hashes (the root a signed
checkpoint of that size carries). With a checkpoint's size and root, also
checks that the trail still extends it. Prints the engine key history (the
project.init key, then each engine.key_rotated entry's new key, with the
entries each key signed for) and checks that each rotation starts from the
key then in force; the rotations' ed25519 cross-signatures, and which key
signed a batch or checkpoint, are checked by `pawl audit verify` (the standard
library has no ed25519). With --vectors, checks this script's
canonical JSON against the shared test vectors instead. Exit status 0 when
everything verifies.
"""
import base64, datetime, hashlib, json, re, sqlite3, sys

# Canonical JSON (docs/audit-format.md#canonical-json): the same rules as the
# Go package audit/canonjson, checked against the same vectors.
MAX_DEPTH = 1000
# Parsing and writing recurse once per level of nesting.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * MAX_DEPTH + 200))

class CanonicalError(ValueError):
    pass

class _Num(str):
    """A number, kept as the text it was written as."""

class _Obj(list):
    """An object, as its (key, value) pairs in input order."""

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?", re.ASCII)
# A string token (to its end even if unclosed) or a bracket: enough to
# measure nesting before the parser recurses.
_TOKENS = re.compile(r'"(?:[^"\\]+|\\.)*"?|[\[\]{}]', re.S)
_ESCAPE = re.compile(r'\\(?:u[0-9a-fA-F]{4}|["\\/bfnrt])?')
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
for _c in range(0x20):
    _ESCAPES.setdefault(chr(_c), "\\u%04x" % _c)

def _number(text):
    if not _NUMBER.fullmatch(text):
        raise CanonicalError(f"invalid number {text!r}")
    return _Num(text)

def _constant(name):
    raise CanonicalError(f"{name} is not a JSON number")

def _pairs(pairs):
    keys = set()
    for k, _ in pairs:
        if k in keys:
            raise CanonicalError(f"duplicate key {k!r}")
        keys.add(k)
    return _Obj(pairs)

def _str(s, out):
    if _SURROGATE.search(s):
        raise CanonicalError(f"lone surrogate in string {s!r}")
    out.append('"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group()], s) + '"')

def _write(v, out):
    if isinstance(v, _Obj):
        for k, _ in v:
            if _SURROGATE.search(k):
                raise CanonicalError(f"lone surrogate in key {k!r}")
        out.append("{")
        # Python compares str by code point, which is UTF-8 byte order.
        for i, (k, x) in enumerate(sorted(v, key=lambda kv: kv[0])):
            if i:
                out.append(",")
            _str(k, out)
            out.append(":")
            _write(x, out)
        out.append("}")
    elif isinstance(v, list):
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _write(x, out)
        out.append("]")
    elif isinstance(v, _Num):
        out.append(v)
    elif isinstance(v, str):
        _str(v, out)
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif v is None:
        out.append("null")
    else:
        raise CanonicalError(f"unexpected value {v!r}")

def _parse(data):
    try:
        text = data.decode("utf-8")  # strict: no overlong forms, no encoded surrogates
    except UnicodeDecodeError as e:
        raise CanonicalError(f"invalid UTF-8 at byte {e.start}") from None
    depth = 0
    for m in _TOKENS.finditer(text):
        c = m.group()[0]
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise CanonicalError(f"nested deeper than {MAX_DEPTH} levels")
        elif c in "]}":
            depth -= 1
    for m in _ESCAPE.finditer(text):
        if len(m.group()) == 1:
            raise CanonicalError(f"invalid escape at character {m.start()}")
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_int=_number,
                          parse_float=_number, parse_constant=_constant)
    except RecursionError:
        raise CanonicalError("nested too deep") from None
    except CanonicalError:
        raise
    except ValueError as e:
        raise CanonicalError(str(e)) from None

def canonicalize(data):
    """The canonical form of the JSON text data (bytes), or CanonicalError."""
    out = []
    _write(_parse(data), out)
    return "".join(out).encode("utf-8")

def canonicalize_object(data):
    v = _parse(data)
    if not isinstance(v, _Obj):
        raise CanonicalError("not a JSON object")
    out = []
    _write(v, out)
    return "".join(out).encode("utf-8")

def check_vectors(path):
    with open(path, "rb") as f:
        doc = json.loads(f.read().decode("utf-8"))
    if doc.get("max_depth") != MAX_DEPTH:
        print(f"{path}: max_depth is {doc.get('max_depth')}, this script's is {MAX_DEPTH}")
        return 1
    failed = accepted = 0
    for v in doc["vectors"]:
        name = v["name"]
        try:
            if "input_base64" in v:
                data = base64.b64decode(v["input_base64"], validate=True)
            else:
                data = v["input"].encode("utf-8")
            got, err = canonicalize(data), None
        except (CanonicalError, UnicodeEncodeError, ValueError) as e:
            got, err = None, e
        if "canonical" in v:
            accepted += 1
            want = v["canonical"].encode("utf-8")
            if err is not None:
                problem = f"refused: {err}"
            elif got != want:
                problem = f"got {got!r}, want {want!r}"
            elif canonicalize(got) != got:
                problem = f"canonical form {got!r} is not a fixed point"
            else:
                continue
        elif err is None:
            problem = f"accepted as {got!r}, want an error ({v.get('error')})"
        else:
            continue
        failed += 1
        print(f"FAIL {name}: {problem}")
    n = len(doc["vectors"])
    if failed:
        print(f"FAILED: {failed} of {n} canonical JSON vectors")
        return 1
    print(f"OK: {n} canonical JSON vectors ({accepted} canonical, {n - accepted} refused)")
    return 0

def jstr(s):
    # The trail's string escaping: only '"', '\\' and characters below U+0020.
    return json.dumps(s, ensure_ascii=False)

# An entry's time: UTC, fixed width, nine fractional digits, so that one
# instant has one spelling and times compare as strings.
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z", re.ASCII)

def canonical_time(s):
    if not _TIME.fullmatch(s):
        return False
    try:
        datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return False
    return True

def entry_hash(seq, time, operator, os_user, action, obj, reason, details, prev):
    pre = "[" + str(seq) + "," + ",".join(jstr(x) for x in (time, operator, os_user, action, obj, reason)) \
        + "," + details + "," + jstr(prev) + "]"
    return "sha256:" + hashlib.sha256(pre.encode("utf-8")).hexdigest()

def tree_root(leaves):
    # RFC 6962: leaf hash = SHA-256(0x00 || leaf), node = SHA-256(0x01 || left || right),
    # splitting at the largest power of two smaller than n.
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + tree_root(leaves[:k]) + tree_root(leaves[k:])).digest()

def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--vectors":
        return check_vectors(sys.argv[2])
    db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
    prev = "sha256:" + "0" * 64
    prev_time = None
    leaves = []
    expect = 1
    keys = []  # (key, from seq)
    for row in db.execute("SELECT seq, time, operator, os_user, action, object, reason, details, prev_hash, hash FROM entries ORDER BY seq"):
        seq, stored_prev, stored = row[0], row[8], row[9]
        if seq != expect:
            print(f"entry {expect}: missing (seq jumps to {seq})"); return 1
        if stored_prev != prev:
            print(f"entry {seq}: prev_hash does not match entry {seq - 1}"); return 1
        computed = entry_hash(*row[:9])
        if computed != stored:
            print(f"entry {seq}: hash mismatch: stored {stored}, computed {computed}"); return 1
        time = row[1]
        if not canonical_time(time):
            print(f"entry {seq}: time {time!r} is not in the form 2006-01-02T15:04:05.000000000Z"); return 1
        if prev_time is not None and time < prev_time:
            print(f"entry {seq} is dated {time}, before entry {seq - 1} at {prev_time} (entry times never go backwards)"); return 1
        prev_time = time
        details = row[7].encode("utf-8")
        try:
            canon = canonicalize_object(details)
        except CanonicalError as e:
            print(f"entry {seq}: details are not a valid JSON object: {e}"); return 1
        if canon != details:
            print(f"entry {seq}: details are not in canonical form"); return 1
        action = row[4]
        if action == "project.init" and not keys:
            keys.append((json.loads(details)["engine_key"], seq))
        elif action == "engine.key_rotated":
            d = json.loads(details)
            if not keys or d["old_key"] != keys[-1][0]:
                print(f"entry {seq}: a key rotation from {d['old_key'].split()[-1]}, which is not the engine key in force"); return 1
            keys.append((d["new_key"], seq))
        prev = stored
        leaves.append(bytes.fromhex(stored[len("sha256:"):]))
        expect += 1
    print(f"OK: {len(leaves)} entries, head {prev}")
    for i, (key, start) in enumerate(keys):
        end = f"entry {keys[i + 1][1] - 1}" if i + 1 < len(keys) else "now"
        print(f"engine key {key.split()[-1]}: entries {start} to {end}")
    print(f"tree root over {len(leaves)} entries: {base64.b64encode(tree_root(leaves)).decode()}")
    if len(sys.argv) == 4:
        size, root = int(sys.argv[2]), sys.argv[3]
        if size > len(leaves):
            print(f"the checkpoint vouches for {size} entries, the trail has {len(leaves)}: entries were deleted"); return 1
        if base64.b64encode(tree_root(leaves[:size])).decode() != root:
            print(f"the first {size} entries are not the ones the checkpoint vouches for: the trail was rewritten"); return 1
        print(f"the trail extends the checkpoint of {size} entries")
    return 0

if __name__ == "__main__":
    sys.exit(main())
