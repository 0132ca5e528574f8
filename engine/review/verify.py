#!/usr/bin/env python3
"""Verify a pawl review package with nothing but Python's standard library.

Usage: python3 verify.py [DIR] [--key FILE] [--checkpoint FILE]
       (DIR: the package; default: this file's directory)

--key FILE: a key history (keys.json from an earlier package) or a list of
engine public keys, kept outside the enclave: the package's history must
agree with it. --checkpoint FILE: a signed checkpoint kept elsewhere (one
a witness cosigned, or an earlier package's): the package's entries must
extend it. Together they defeat a package made from a trail rewritten and
re-signed by someone who held the engine key.

Witnesses' cosignatures (witness.cosigned entries) are checked against the
witness keys in witnesses.txt, or those in --witness-keys FILE (one
NAME+HASH+BASE64 a line); --witnesses K requires K distinct witnesses to
have cosigned a checkpoint covering the newest batch.

Written by `pawl inspect` into every package, and the same code that
build/verify-trail.py runs over an audit.db. It checks, from the package's
files alone (docs/audit-format.md, "The inspectors' package"):

- SHA256SUMS: every file of the package listed once, each with its sha256;
  SHA256SUMS.sig: the engine key's ed25519 signature over it;
- entries.jsonl: each line the exact form pawl writes (canonical JSON),
  each entry's hash, its link to the entry before, seq from 1 without gaps,
  canonical times that never go backwards, the trail's own entries;
- keys.json: the engine key history the entries hold (project.init, each
  engine.key_rotated with both keys' signatures), key by key;
- every batch: its signature (the content its batch.committed entry calls
  for, signed by the key in force at that entry), its checkpoint, its
  lineage root; every e-signature (the signer's enrolled key, before any
  revocation, naming the entry it signs by seq and hash);
- checkpoint: the trail's head, signed by the key in force, covering every
  entry.

It prints OK, or one line per problem, and exits 0 when everything
verifies, 1 otherwise. ed25519 (RFC 8032) is implemented below in pure
Python, as Go's crypto/ed25519 verifies: S must be below the group order,
R is compared by its encoding.
"""
import base64, datetime, hashlib, json, os, re, sys

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
    out = []
    _str(s, out)
    return out[0]

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
    return s[:4] != "0000"

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

# ---- ed25519 verification (RFC 8032 section 5.1.7), as Go's crypto/ed25519 ----

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

def _pt_add(a, b):
    # Extended twisted Edwards coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z.
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    A = (y1 - x1) * (y2 - x2) % _P
    B = (y1 + x1) * (y2 + x2) % _P
    C = 2 * t1 * t2 * _D % _P
    Dd = 2 * z1 * z2 % _P
    E, F, G, H = B - A, Dd - C, Dd + C, B + A
    return (E * F % _P, G * H % _P, F * G % _P, E * H % _P)

def _pt_mul(s, p):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _pt_add(q, p)
        p = _pt_add(p, p)
        s >>= 1
    return q

def _pt_encode(p):
    x, y, z, _ = p
    zi = pow(z, _P - 2, _P)
    x, y = x * zi % _P, y * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")

def _pt_decode(s):
    # As Go decodes a public key: the top bit is x's sign; y is taken mod p
    # (an unreduced y is accepted), and x = 0 with the sign bit set is too.
    if len(s) != 32:
        return None
    n = int.from_bytes(s, "little")
    sign, y = n >> 255, (n & ((1 << 255) - 1)) % _P
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = (_P - x) % _P
    return (x, y, 1, x * y % _P)

_BY = 4 * pow(5, _P - 2, _P) % _P
_B = _pt_decode(_BY.to_bytes(32, "little"))

def ed25519_verify(pub, msg, sig):
    """Whether sig (64 bytes) is pub's (32 bytes) ed25519 signature of msg."""
    if len(pub) != 32 or len(sig) != 64:
        return False
    a = _pt_decode(pub)
    if a is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= _L:
        return False  # a non-canonical S: malleable, refused
    k = int.from_bytes(hashlib.sha512(sig[:32] + pub + msg).digest(), "little") % _L
    minus_a = ((_P - a[0]) % _P, a[1], a[2], (_P - a[3]) % _P)
    r = _pt_add(_pt_mul(s, _B), _pt_mul(k, minus_a))
    return _pt_encode(r) == sig[:32]

# ---- pawl's formats ----

def b64(s):
    """The bytes of s in its one base64 spelling, or None."""
    try:
        raw = base64.b64decode(s, validate=True)
    except (ValueError, TypeError):
        return None
    return raw if base64.b64encode(raw).decode() == s else None

def key_id(pub):
    return "ed25519:" + hashlib.sha256(pub).hexdigest()[:16]

def parse_public_key(s):
    """The bytes of "ed25519 BASE64 [KEYID]", or None."""
    f = s.split()
    if len(f) < 2 or f[0] != "ed25519":
        return None
    try:
        raw = base64.b64decode(f[1])
    except ValueError:
        return None
    return raw if len(raw) == 32 else None

def format_public_key(pub):
    return f"ed25519 {base64.b64encode(pub).decode()} {key_id(pub)}"

def canon(v):
    """The canonical JSON bytes of a value parsed by _parse."""
    out = []
    _write(v, out)
    return "".join(out).encode("utf-8")

def get(obj, key, default=None):
    """A member of an object parsed by _parse (an _Obj of pairs)."""
    if isinstance(obj, _Obj):
        for k, v in obj:
            if k == key:
                return v
    return default

def plain(v):
    """A value parsed by _parse as plain Python (numbers as int or str)."""
    if isinstance(v, _Obj):
        return {k: plain(x) for k, x in v}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, _Num):
        return int(v) if re.fullmatch(r"-?[0-9]+", v) else str(v)
    return v

ENTRY_KEYS = ["seq", "time", "operator", "os_user", "action", "object", "reason", "details", "prev_hash", "hash"]
GENESIS_PREV = "sha256:" + "0" * 64

class Entry:
    def __init__(self, seq, time, operator, os_user, action, obj, reason, details, prev, hash_):
        self.seq, self.time, self.operator, self.os_user = seq, time, operator, os_user
        self.action, self.object, self.reason = action, obj, reason
        self.details_text, self.prev, self.hash = details, prev, hash_
        self.details = None  # parsed, once checked

    def line(self):
        parts = ['{"seq":' + str(self.seq)]
        for k, v in (("time", self.time), ("operator", self.operator), ("os_user", self.os_user),
                     ("action", self.action), ("object", self.object), ("reason", self.reason)):
            parts.append(jstr(k) + ":" + jstr(v))
        parts.append('"details":' + self.details_text)
        parts.append('"prev_hash":' + jstr(self.prev))
        parts.append('"hash":' + jstr(self.hash))
        return (",".join(parts) + "}").encode("utf-8")

def entry_from_line(n, line):
    """The Entry a line of entries.jsonl holds, or raises CanonicalError."""
    v = _parse(line)
    if not isinstance(v, _Obj):
        raise CanonicalError(f"line {n}: not a JSON object")
    keys = [k for k, _ in v]
    if keys != ENTRY_KEYS:
        raise CanonicalError(f"line {n}: keys {keys}, want {ENTRY_KEYS} in that order")
    vals = dict(v)
    seq = vals["seq"]
    if not isinstance(seq, _Num) or not re.fullmatch(r"[1-9][0-9]*", seq):
        raise CanonicalError(f"line {n}: seq is not a positive integer")
    for k in ENTRY_KEYS[1:]:
        if k != "details" and not isinstance(vals[k], str) or isinstance(vals[k], _Num):
            raise CanonicalError(f"line {n}: {k} is not a string")
    if not isinstance(vals["details"], _Obj):
        raise CanonicalError(f"line {n}: details is not a JSON object")
    e = Entry(int(seq), vals["time"], vals["operator"], vals["os_user"], vals["action"], vals["object"],
              vals["reason"], canon(vals["details"]).decode("utf-8"), vals["prev_hash"], vals["hash"])
    if e.line() != line:
        raise CanonicalError(f"line {n} (entry {seq}) is not in the form pawl writes (canonical JSON, keys in order)")
    return e

class Checker:
    """Collects problems, one line each."""
    def __init__(self):
        self.problems = []

    def fail(self, msg):
        self.problems.append(msg)

def check_entries(rows, c, where):
    """Check the chain of entries (an iterable of Entry, in order) as
    `pawl audit verify` checks the trail. Stops at the first broken entry:
    what follows cannot be trusted. Returns the entries read and the trail id."""
    out = []
    prev, prev_time, expect, trail_id, version = GENESIS_PREV, None, 1, None, 0
    for e in rows:
        def bad(msg):
            c.fail(f"{where}: entry {e.seq}: {msg}")
            return out, trail_id
        if e.seq != expect:
            c.fail(f"{where}: entry {expect}: missing (seq jumps from {expect - 1} to {e.seq})")
            return out, trail_id
        computed = entry_hash(e.seq, e.time, e.operator, e.os_user, e.action, e.object, e.reason, e.details_text, e.prev)
        if computed != e.hash:
            return bad(f"hash mismatch: stored {e.hash}, computed {computed} (the entry was edited or moved)")
        if e.prev != prev:
            return bad(f"prev_hash does not match entry {e.seq - 1}")
        if not canonical_time(e.time):
            return bad(f"time {e.time!r} is not in the form 2006-01-02T15:04:05.000000000Z")
        if prev_time is not None and e.time < prev_time:
            c.fail(f"{where}: entry {e.seq} is dated {e.time}, before entry {e.seq - 1} at {prev_time} (entry times never go backwards)")
            return out, trail_id
        raw = e.details_text.encode("utf-8")
        try:
            d = _parse(raw)
            if not isinstance(d, _Obj):
                return bad("details are not a valid JSON object")
            if canon(d) != raw:
                return bad("details are not in canonical form")
        except CanonicalError as err:
            return bad(f"details are not a valid JSON object: {err}")
        e.details = d
        if not e.operator or not e.action:
            return bad("operator and action are required")
        if e.seq == 1:
            g = plain(d)
            trail_id = g.get("trail_id")
            if e.action != "trail.created" or set(g) - {"trail_id", "schema_version", "created_at"} \
                    or not isinstance(trail_id, str) or not trail_id or not g.get("created_at") \
                    or not isinstance(g.get("schema_version"), int) or g["schema_version"] < 1:
                return bad("the genesis entry does not create and name the trail (want trail_id, schema_version, created_at)")
            version = g["schema_version"]
        elif e.action == "trail.created":
            return bad("a second trail.created entry")
        elif e.action == "trail.migrated":
            m = plain(d)
            if e.operator != "pawl" or m.get("from") != version or not isinstance(m.get("to"), int) or m["to"] <= version:
                return bad(f"a trail.migrated entry that does not follow schema version {version}")
            version = m["to"]
        elif e.action == "trail.clock_anomaly":
            head_seq, head_time = plain(get(d, "head_seq")), get(d, "head_time")
            refused = get(d, "given") or get(d, "clock")
            if e.operator != "pawl" or head_seq != e.seq - 1 or head_time != e.time or head_time != prev_time \
                    or not isinstance(refused, str) or not canonical_time(refused) or not refused < head_time:
                return bad("a trail.clock_anomaly entry that is not what pawl writes")
        prev, prev_time = e.hash, e.time
        out.append(e)
        expect += 1
    if not out and not c.problems:
        c.fail(f"{where}: no entries, not even the genesis entry")
    return out, trail_id

ROTATION_PURPOSE = "pawl engine key rotation v1"

def key_history(entries, trail_id, c, where="entries.jsonl"):
    """The engine keys in the order they were in force, as keys.json holds
    them, each rotation's two signatures checked."""
    keys = []
    for e in entries:
        if e.action == "project.init" and e.object == "project" and not keys:
            pub = parse_public_key(get(e.details, "engine_key") or "")
            if pub is None:
                c.fail(f"{where}: entry {e.seq}: project.init names no engine key")
                return keys
            keys.append({"key": format_public_key(pub), "key_id": key_id(pub), "from": e.seq, "until": 0,
                         "time": e.time, "operator": e.operator, "reason": e.reason, "_pub": pub})
        elif e.action == "engine.key_rotated" and e.object == "engine-key":
            old, new = parse_public_key(get(e.details, "old_key") or ""), parse_public_key(get(e.details, "new_key") or "")
            if not keys or old != keys[-1]["_pub"]:
                c.fail(f"{where}: entry {e.seq}: a key rotation from {key_id(old) if old else 'no key'}, which is not the engine key in force")
                return keys
            if new is None or any(k["_pub"] == new for k in keys):
                c.fail(f"{where}: entry {e.seq}: a key rotation to no key, or to a key that was the engine key before")
                return keys
            stmt = _Obj([("purpose", ROTATION_PURPOSE), ("trail", trail_id), ("old_key", format_public_key(old)), ("new_key", format_public_key(new))])
            osig, nsig = get(e.details, "old_signature") or "", get(e.details, "new_signature") or ""
            for who, sig, pub in (("old", osig, old), ("new", nsig, new)):
                raw = b64(sig)
                if raw is None or not ed25519_verify(pub, canon(stmt), raw):
                    c.fail(f"{where}: entry {e.seq}: the {who} key's signature over the rotation does not verify")
                    return keys
            keys[-1]["until"] = e.seq
            keys.append({"key": format_public_key(new), "key_id": key_id(new), "from": e.seq, "until": 0,
                         "old_signature": osig, "new_signature": nsig,
                         "time": e.time, "operator": e.operator, "reason": e.reason, "_pub": new})
    return keys

def key_at(keys, seq):
    for k in reversed(keys[1:]):
        if k["from"] <= seq:
            return k
    return keys[0] if keys else None

def verify_checkpoint(cp, origin, keys, leaves, size):
    """What is wrong with the signed checkpoint cp of the first size
    entries, or None."""
    try:
        text = cp.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    i = text.rfind("\n\n")
    if i < 0 or not text.endswith("\n"):
        return "not a signed note (no signature block)"
    body, lines = text[:i + 1], text[i + 2:-1].split("\n")
    m = re.fullmatch(r"([^\n]+)\n(0|[1-9][0-9]*)\n([A-Za-z0-9+/=]+)\n", body)
    if not m or m.group(1) != origin:
        return f"not a checkpoint of {origin}"
    n, root = int(m.group(2)), b64(m.group(3))
    if n != size:
        return f"it vouches for the first {n} entries, want {size}"
    if root is None or len(root) != 32:
        return "its root hash is not 32 bytes in base64"
    k = key_at(keys, n)
    if k is None:
        return "no engine key on record"
    khash = hashlib.sha256(origin.encode() + b"\n\x01" + k["_pub"]).digest()[:4]
    ours = []
    for line in lines:
        name, _, sig = line.removeprefix("\u2014 ").partition(" ")
        raw = b64(sig)
        if not line.startswith("\u2014 ") or raw is None or len(raw) < 4:
            return "a signature line is not \u2014 NAME BASE64"
        if name == origin and raw[:4] == khash:
            ours.append(raw[4:])
    if len(ours) != 1:
        return f"{len(ours)} signatures by key {k['key_id']}, the engine key at entry {n}: want one"
    if not ed25519_verify(k["_pub"], body.encode(), ours[0]):
        return f"the signature by key {k['key_id']} does not verify"
    if n > len(leaves):
        return f"it vouches for {n} entries, there are {len(leaves)}: entries are missing"
    if tree_root(leaves[:n]) != root:
        return f"the first {n} entries are not the ones it vouches for: the trail was rewritten"
    return None

SUMS, SUMS_SIG, SUMS_PURPOSE = "SHA256SUMS", "SHA256SUMS.sig", "pawl-sha256sums-v1"

def parse_witness_key(vkey):
    """A witness's verifier key, NAME+HASH+BASE64 (c2sp.org/signed-note,
    type 0x04: cosignature/v1), as (name, hash bytes, ed25519 key), or None."""
    name, _, rest = vkey.partition("+")
    h, _, k64 = rest.partition("+")
    if not name or "+" in name or any(ch.isspace() for ch in name) or not re.fullmatch(r"[0-9a-f]{8}", h):
        return None
    key = b64(k64)
    if key is None or len(key) != 33 or key[0] != 4:
        return None
    if hashlib.sha256(name.encode() + b"\n" + key).digest()[:4] != bytes.fromhex(h):
        return None
    return name, bytes.fromhex(h), key[1:]

def read_witness_keys(text):
    """Witness keys, one a line, optionally after the witness's id (as
    witnesses.txt lists them), keyed by "NAME+HASH"; raises ValueError."""
    keys = {}
    for i, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        f = line.split()
        k = parse_witness_key(f[-1]) if len(f) <= 2 else None
        if k is None:
            raise ValueError(f"line {i}: not [ID] NAME+HASH+BASE64")
        keys[f"{k[0]}+{k[1].hex()}"] = k
    return keys

def check_cosignatures(entries, origin, leaves, keys, where, required):
    """Every witness.cosigned entry, as `pawl audit verify` checks it;
    returns (problems, {key: largest size validly cosigned}, count)."""
    problems, covered, count, last_batch = [], {}, 0, 0
    for e in entries:
        if e.action == "batch.committed":
            last_batch = e.seq
        if e.action != "witness.cosigned":
            continue
        count += 1
        d = e.details
        size, name, kh = get(d, "size"), get(d, "name") or "", get(d, "key_hash") or ""
        size = int(size) if isinstance(size, _Num) and re.fullmatch(r"[0-9]+", size) else -1
        if size < 1 or size >= e.seq or get(d, "origin") != origin:
            problems.append(f"audit entry {e.seq}: a cosignature of {get(d, 'origin')} at {size} entries, recorded at entry {e.seq}: not a checkpoint of this trail before it")
            continue
        root, want = b64(get(d, "root") or ""), tree_root(leaves[:size])
        if root != want:
            problems.append(f"audit entry {e.seq}: witness {get(d, 'witness')} cosigned the trail's first {size} entries with root {get(d, 'root')}; they now have root {base64.b64encode(want).decode()}: the trail was rewritten after it was witnessed")
            continue
        kid = f"{name}+{kh}"
        k = keys.get(kid)
        if k is None:
            problems.append(f"audit entry {e.seq}: cosignature by witness key {kid}, which {where}")
            continue
        sig, t = b64(get(d, "signature") or ""), get(d, "time")
        t = int(t) if isinstance(t, _Num) and re.fullmatch(r"[0-9]+", t) else -1
        if sig is None or len(sig) != 76 or sig[:4] != k[1] or int.from_bytes(sig[4:12], "big") != t or t < 0:
            problems.append(f"audit entry {e.seq}: cosignature by {name}: malformed (want key hash, time and a 64-byte ed25519 signature)")
            continue
        body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n".encode()
        if not ed25519_verify(k[2], f"cosignature/v1\ntime {t}\n".encode() + body, sig[12:]):
            problems.append(f"audit entry {e.seq}: cosignature by {name} does not verify over the checkpoint")
            continue
        covered[kid] = max(covered.get(kid, 0), size)
    if required > 0:
        ok = sorted(k for k, n in covered.items() if n >= last_batch)
        if not ok:
            problems.append(f"{required} witness(es) required, none has cosigned a checkpoint covering the newest batch (audit entry {last_batch}): run `pawl audit witness push`")
        elif len(ok) < required:
            problems.append(f"{required} witness(es) required, {len(ok)} cosigned a checkpoint covering the newest batch (audit entry {last_batch}): {', '.join(ok)}")
    return problems, covered, count

def read_trusted_keys(path):
    """What the verifier holds from elsewhere (--key): a key history as
    keys.json holds it ({"trail", "keys"}), or a list of public keys, one
    per line ("#" comments). Returns (history or None, [public keys]) or
    raises ValueError saying what is wrong."""
    with open(path, "rb") as f:
        b = f.read()
    text = b.decode("utf-8", "replace")
    if text.strip().startswith("{"):
        try:
            h = json.loads(text)
        except ValueError as err:
            raise ValueError(f"{path} is not a key history: {err}")
        ks = h.get("keys") if isinstance(h, dict) else None
        if not isinstance(h, dict) or not h.get("trail") or not isinstance(ks, list) or not ks:
            raise ValueError(f"{path} is not a key history: no trail id or no keys")
        out = []
        for i, k in enumerate(ks, 1):
            pub = parse_public_key(k.get("key") or "") if isinstance(k, dict) else None
            if pub is None or not isinstance(k.get("from"), int) or not isinstance(k.get("until", 0), int):
                raise ValueError(f"{path}: key {i}: not a key with the entry it is in force from")
            out.append({"key_id": key_id(pub), "from": k["from"], "until": k.get("until", 0), "_pub": pub})
        return h["trail"], out
    out = []
    for i, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pub = parse_public_key(line)
        if pub is None:
            raise ValueError(f"{path}:{i}: not a public key (ed25519:BASE64)")
        out.append({"key_id": key_id(pub), "from": 0, "until": 0, "_pub": pub})
    if not out:
        raise ValueError(f"{path} holds no public key")
    return None, out

def trusted_agrees(trail, tkeys, trail_id, keys):
    """What is wrong with the trail's key history against the trusted one,
    or None: a history must be the trail's own or a beginning of it, key by
    key; with a list, every key the trail ever had must be in it."""
    if trail is None:
        for k in keys:
            if all(t["_pub"] != k["_pub"] for t in tkeys):
                return f"the trail's engine key {k['key_id']} (in force from entry {k['from']}) is not a trusted key"
        return None
    if trail != trail_id:
        return f"it is the key history of trail {trail}, this trail is {trail_id}"
    for i, t in enumerate(tkeys):
        if i >= len(keys):
            return f"the trail's key history ends after {len(keys)} keys, the trusted history has {len(tkeys)} (key {t['key_id']} from entry {t['from']} is missing)"
        k = keys[i]
        if k["_pub"] != t["_pub"] or k["from"] != t["from"]:
            return f"key {i + 1} differs: the trail has {k['key_id']} from entry {k['from']}, the trusted history {t['key_id']} from entry {t['from']}"
        if t["until"] and k["until"] != t["until"]:
            return f"key {i + 1} ({t['key_id']}) was rotated out at entry {t['until']} by the trusted history, at entry {k['until']} by the trail"
    return None

def held_checkpoint(cp, origin, trusted, keys, leaves):
    """What is wrong with a checkpoint the verifier held from elsewhere
    (--checkpoint), or None: the package's entries must extend it, and it
    must be signed by the key in force at its size, in the trusted history
    when there is one (any trusted key, for a list), else in the trail's."""
    m = re.match(r"[^\n]*\n(0|[1-9][0-9]*)\n", cp.decode("utf-8", "replace"))
    if not m:
        return f"not a checkpoint of {origin}"
    n = int(m.group(1))
    trail, tkeys = trusted if trusted else (None, None)
    if tkeys is None:
        candidates = [key_at(keys, n)]
    elif trail is not None:
        candidates = [key_at(tkeys, n)]
    else:
        candidates = tkeys
    problem = "no key to check it with"
    for k in candidates:
        if k is None:
            continue
        problem = verify_checkpoint(cp, origin, [k], leaves, n)
        if problem is None:
            return None
    return problem

def check_sums(d, sums, c):
    listed = {SUMS, SUMS_SIG}
    text = sums.decode("utf-8", "replace")
    if sums and not text.endswith("\n"):
        c.fail(f"{SUMS} does not end in a newline (it was cut short)")
    for i, line in enumerate(text.splitlines(), 1):
        m = re.fullmatch(r"([0-9a-f]{64})  (\S.*)", line)
        if not m:
            c.fail(f"{SUMS} line {i}: not \"<sha256 hex>  <file>\"")
            continue
        name = m.group(2)
        if os.path.normpath(name) != name or name.startswith("/") or name.split("/")[0] == "..":
            c.fail(f"{SUMS} line {i}: {name!r} is not a file inside the package")
            continue
        if name in listed:
            c.fail(f"{SUMS} line {i}: {name} is listed twice")
            continue
        listed.add(name)
        try:
            with open(os.path.join(d, name), "rb") as f:
                h = hashlib.sha256()  # streamed: a batch's quarantine may be gigabytes
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
                got = h.hexdigest()
        except OSError as e:
            c.fail(f"{name}: listed in {SUMS} but {e.strerror}")
            continue
        if got != m.group(1):
            c.fail(f"{name}: its sha256 is {got}, {SUMS} lists {m.group(1)} (the file was changed)")
    for root, dirs, files in os.walk(d):
        for f in files + [x for x in dirs if os.path.islink(os.path.join(root, x))]:
            rel = os.path.relpath(os.path.join(root, f), d).replace(os.sep, "/")
            if not os.path.isfile(os.path.join(root, f)) or os.path.islink(os.path.join(root, f)):
                c.fail(f"{rel}: not a regular file (a package holds files only)")
            elif rel not in listed:
                c.fail(f"{rel}: not listed in {SUMS} (a file was added)")

def expected_signature(e):
    """The content of the usability signature batch.committed entry e calls
    for (seal.Expected): what signature.json says but its seal."""
    br = e.details
    return _Obj([
        ("batch_id", get(br, "batch_id")), ("verified_at", e.time), ("as_of", get(br, "as_of")),
        ("job", get(br, "job")), ("classification", get(br, "classification")),
        ("input_hash", get(br, "input")), ("schema", get(br, "schema")),
        ("validators", get(br, "validators") or _Obj([])),
        ("result", _Obj([("status", "committed"), ("records_in", get(br, "records_in")),
                         ("records_verified", get(br, "records_verified")), ("records_quarantined", get(br, "records_quarantined"))])),
        ("outputs", get(br, "outputs")), ("lineage_root", get(get(br, "lineage"), "root")),
        ("pawl_version", get(br, "pawl_version")), ("audit_seq", _Num(str(e.seq))), ("audit_entry", e.hash),
    ])

def check_batch_signature(name, data, e, keys):
    try:
        s = _parse(data)
    except CanonicalError as err:
        return f"not JSON: {err}"
    seal = get(s, "signature")
    if not isinstance(s, _Obj) or not isinstance(seal, _Obj) or get(seal, "alg") != "ed25519":
        return "carries no ed25519 signature"
    payload = canon(_Obj([(k, v) for k, v in s if k != "signature"]))
    want = canon(expected_signature(e))
    if payload != want:
        i = next((j for j in range(min(len(payload), len(want))) if payload[j] != want[j]), min(len(payload), len(want)))
        return f"it does not say what batch.committed entry {e.seq} records (byte {i} of the signed content differs)"
    pub, sig = b64(get(seal, "public_key") or ""), b64(get(seal, "value") or "")
    if pub is None or len(pub) != 32 or key_id(pub) != get(seal, "key_id"):
        return "damaged public key or key id"
    k = key_at(keys, e.seq)
    if k is None or k["_pub"] != pub:
        return f"signed by key {key_id(pub)}, not by {k and k['key_id']}, the engine key at entry {e.seq}"
    if sig is None or not ed25519_verify(pub, payload, sig):
        return "the signature does not verify: the content was changed after signing"
    return None

def check_esignature(e, ops, entries):
    d = e.details
    m, sv = get(d, "manifest"), get(d, "signature")
    if not isinstance(m, _Obj) or not isinstance(sv, _Obj):
        return "no manifest or signature"
    signer = get(m, "signer_id")
    op = ops.get(signer)
    if op is None:
        return f"signer {signer!r} is not enrolled before it"
    if op["revoked"] and op["revoked"] < e.seq:
        return f"signer {signer} was revoked at entry {op['revoked']}, before it"
    if e.operator != signer or e.reason != get(m, "reason") or e.time != get(m, "time"):
        return "the entry's operator, time or reason is not the signed manifest's"
    if get(sv, "alg") != "ed25519" or get(sv, "key_id") != op["key_id"] or get(m, "signer_key_id") != op["key_id"]:
        return f"not signed with {signer}'s enrolled key {op['key_id']}"
    def target(seq, hash_, action):
        seq = plain(seq)
        if not isinstance(seq, int) or not 1 <= seq < e.seq:
            return None
        t = entries[seq - 1]
        return t if t.hash == hash_ and t.action == action and t.object == e.object else None
    change = get(m, "change_id")
    if get(m, "format") == "pawl-esign-review-v1" or e.object.startswith("review:"):
        # A review of the trail up to entry through_seq: its hash chains
        # every entry before it.
        seq = plain(get(m, "through_seq"))
        if get(m, "format") != "pawl-esign-review-v1" or not isinstance(seq, int) or isinstance(seq, bool) \
                or e.object != f"review:{seq}" or get(m, "batch_id") or change:
            return f"the manifest signs a review through entry {seq}, the entry is about {e.object}"
        if get(m, "meaning") != "reviewed":
            return f"a review of the trail is signed with the meaning reviewed, not {get(m, 'meaning')!r}"
        if not 1 <= seq < e.seq or entries[seq - 1].hash != get(m, "through_entry"):
            return f"the manifest names entry {seq} as the last entry reviewed; it is not"
    elif change:
        if e.object != "change:" + change or get(m, "batch_id"):
            return f"the manifest signs change {change}, the entry is about {e.object}"
        if target(get(m, "change_entry_seq"), get(m, "change_entry"), "change.proposed") is None:
            return "the manifest does not name the change's change.proposed entry by seq and hash"
    else:
        if e.object != "batch:" + str(get(m, "batch_id")):
            return f"the manifest signs batch {get(m, 'batch_id')}, the entry is about {e.object}"
        be = target(get(m, "batch_entry_seq"), get(m, "batch_entry"), "batch.committed")
        if be is None:
            return "the manifest does not name the batch's batch.committed entry by seq and hash"
        outs = {k: get(v, "hash") for k, v in (get(be.details, "outputs") or [])}
        if get(m, "input") != get(be.details, "input") or get(m, "lineage_root") != get(get(be.details, "lineage"), "root") \
                or plain(get(m, "outputs")) != outs:
            return f"the manifest's input, lineage root or outputs are not what batch.committed entry {be.seq} records"
    sig = b64(get(sv, "value") or "")
    if sig is None or not ed25519_verify(op["pub"], canon(m), sig):
        return f"the signature does not verify with {signer}'s enrolled key {op['key_id']}"
    return None

def check_package(d, key_file=None, checkpoint_file=None, witness_keys_file=None, required=0):
    c = Checker()
    def read(name):
        try:
            with open(os.path.join(d, name), "rb") as f:
                return f.read()
        except OSError as e:
            c.fail(f"{name}: {e.strerror}")
            return None
    sums = read(SUMS)
    if sums is not None:
        check_sums(d, sums, c)
    data = read("entries.jsonl")
    rows = []
    if data is not None:
        if data and not data.endswith(b"\n"):
            c.fail("entries.jsonl: the last line does not end in a newline (the file was cut short)")
        for n, line in enumerate(data.split(b"\n")[:-1], 1):
            try:
                rows.append(entry_from_line(n, line))
            except CanonicalError as err:
                c.fail(f"entries.jsonl: {err}")
                break
    entries, trail_id = check_entries(rows, c, "entries.jsonl")
    leaves = [bytes.fromhex(e.hash[len("sha256:"):]) for e in entries]
    keys = key_history(entries, trail_id, c)
    if not keys:
        c.fail("entries.jsonl: no project.init entry: the trail names no engine key")
    kj = read("keys.json")
    if kj is not None:
        try:
            got = json.loads(kj)
        except ValueError as err:
            got = err
        want = {"trail": trail_id, "keys": [{k: v for k, v in x.items() if k != "_pub" and (v or k in ("from", "until"))} for x in keys]}
        if got != want:
            c.fail("keys.json: it is not the engine key history the trail's entries hold (project.init, engine.key_rotated)")
    sig = read(SUMS_SIG)
    if sums is not None and sig is not None and keys:
        f = sig.decode("utf-8", "replace").split(" ")
        cur = keys[-1]
        raw = b64(f[2].removesuffix("\n")) if len(f) == 3 and f[0] == SUMS_PURPOSE and f[2].endswith("\n") else None
        if raw is None:
            c.fail(f"{SUMS_SIG}: not \"{SUMS_PURPOSE} KEYID SIGNATURE\" on one line")
        elif f[1] != cur["key_id"]:
            c.fail(f"{SUMS_SIG}: signed by key {f[1]}; the engine key at the package's last entry is {cur['key_id']}")
        elif not ed25519_verify(cur["_pub"], SUMS_PURPOSE.encode() + b"\n" + sums, raw):
            c.fail(f"{SUMS_SIG}: the signature over {SUMS} does not verify with key {cur['key_id']} ({SUMS} was changed after signing)")
    origin = "pawl.dev/audit/" + str(trail_id)
    cp = read("checkpoint")
    if cp is not None and keys:
        p = verify_checkpoint(cp, origin, keys, leaves, len(entries))
        if p:
            c.fail(f"checkpoint: {p}")
    trusted = None
    if key_file is not None:
        try:
            trusted = read_trusted_keys(key_file)
        except (OSError, ValueError) as err:
            c.fail(f"trusted key history: {err}")
        else:
            p = trusted_agrees(trusted[0], trusted[1], trail_id, keys)
            if p:
                c.fail(f"trusted key history: {p}")
    if checkpoint_file is not None and keys:
        try:
            with open(checkpoint_file, "rb") as f:
                held = f.read()
        except OSError as err:
            c.fail(f"trusted checkpoint: {checkpoint_file}: {err.strerror}")
        else:
            p = held_checkpoint(held, origin, trusted, keys, leaves)
            if p:
                c.fail(f"trusted checkpoint: {p}")
    c.witnessing = None
    if witness_keys_file is not None:
        where = "the witness keys given do not name"
        try:
            with open(witness_keys_file, encoding="utf-8") as f:
                wkeys = read_witness_keys(f.read())
        except (OSError, ValueError) as err:
            c.fail(f"witness keys {witness_keys_file}: {err}")
            wkeys = {}
    else:
        where, wkeys = "witnesses.txt does not name", {}
        if os.path.exists(os.path.join(d, "witnesses.txt")):
            wt = read("witnesses.txt")
            try:
                wkeys = read_witness_keys((wt or b"").decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as err:
                c.fail(f"witnesses.txt: {err}")
    wp, covered, ncos = check_cosignatures(entries, origin, leaves, wkeys, where, required)
    for p in wp:
        c.fail(f"witnesses: {p}")
    if ncos or required:
        c.witnessing = (ncos, covered)
    roots = {}
    lr = read("lineage-roots.txt")
    for i, line in enumerate((lr or b"").decode("utf-8", "replace").splitlines(), 1):
        bid, _, rest = line.partition(" ")
        if not rest or bid in roots:
            c.fail(f"lineage-roots.txt line {i}: not \"<batch> <records> <root>\", or a batch twice")
            continue
        roots[bid] = rest
    ops, seen, batches, esigs = {}, set(), 0, 0
    for e in entries:
        if e.action == "batch.committed":
            batches += 1
            bid = get(e.details, "batch_id")
            seen.add(bid)
            want = f"{plain(get(e.details, 'records_in'))} {get(get(e.details, 'lineage'), 'root')}"
            if roots.get(bid) != want:
                c.fail(f"lineage-roots.txt: batch {bid} has {roots.get(bid)!r}; its batch.committed entry {e.seq} records {want!r}")
            name = f"checkpoints/{bid}.checkpoint"
            b = read(name)
            if b is not None and keys:
                p = verify_checkpoint(b, origin, keys, leaves, e.seq)
                if p:
                    c.fail(f"{name}: {p}")
            name = f"signatures/{bid}.json"
            b = read(name)
            if b is not None:
                p = check_batch_signature(name, b, e, keys)
                if p:
                    c.fail(f"{name}: {p}")
        elif e.action == "operator.enrolled":
            oid, pub = get(e.details, "id"), parse_public_key(get(e.details, "public_key") or "")
            if pub is not None and oid not in ops:
                ops[oid] = {"pub": pub, "key_id": key_id(pub), "revoked": 0}
        elif e.action == "operator.revoked":
            op = ops.get(get(e.details, "id"))
            if op is not None and not op["revoked"]:
                op["revoked"] = e.seq
        elif e.action == "esign.signed":
            esigs += 1
            p = check_esignature(e, ops, entries)
            if p:
                c.fail(f"entries.jsonl: entry {e.seq}: e-signature: {p}")
    if os.path.isdir(os.path.join(d, "signatures")):
        for f in sorted(os.listdir(os.path.join(d, "signatures"))):
            if not f.endswith(".json") or f[:-5] not in seen:
                c.fail(f"signatures/{f}: no batch.committed entry for it in entries.jsonl")
    for bid in sorted(set(roots) - seen):
        c.fail(f"lineage-roots.txt: batch {bid} has no batch.committed entry in entries.jsonl")
    return c, len(entries), batches, esigs, len(keys), entries[-1].hash if entries else ""

def check_ed25519_cases(path):
    """Test support: one line per case of the JSON list in path
    ({"pub", "msg", "sig"} in hex), 1 if the signature verifies, else 0."""
    with open(path) as f:
        cases = json.load(f)
    for t in cases:
        print(1 if ed25519_verify(bytes.fromhex(t["pub"]), bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"])) else 0)
    return 0

USAGE = "usage: python3 verify.py [DIR] [--key FILE] [--checkpoint FILE] [--witness-keys FILE] [--witnesses K]"

def main(argv):
    if len(argv) == 3 and argv[1] == "--ed25519-cases":
        return check_ed25519_cases(argv[2])
    args, opts = [], {"--key": None, "--checkpoint": None, "--witness-keys": None, "--witnesses": None}
    rest = argv[1:]
    while rest:
        a = rest.pop(0)
        if a in opts and rest and opts[a] is None:
            opts[a] = rest.pop(0)
        elif a.startswith("-") or args:
            print(USAGE, file=sys.stderr)
            return 2
        else:
            args.append(a)
    if opts["--witnesses"] is not None and not re.fullmatch(r"[0-9]+", opts["--witnesses"]):
        print(USAGE, file=sys.stderr)
        return 2
    d = args[0] if args else os.path.dirname(os.path.abspath(__file__))
    if not os.path.isdir(d):
        print(f"{d} is not a directory: give the package's directory", file=sys.stderr)
        return 2
    c, n, batches, esigs, nkeys, head = check_package(d, opts["--key"], opts["--checkpoint"], opts["--witness-keys"], int(opts["--witnesses"] or 0))
    for p in c.problems:
        print(f"FAILED: {p}")
    if c.problems:
        print(f"the package {d} does not verify: {len(c.problems)} problems; do not rely on it: ask for a new package")
        return 1
    print(f"package {d}: OK, {n} entries (head {head}), {batches} batches, {esigs} e-signatures, {nkeys} engine keys; SHA256SUMS and its signature verify")
    if opts["--key"]:
        print(f"  its key history agrees with {opts['--key']}")
    if opts["--checkpoint"]:
        print(f"  its entries extend the checkpoint {opts['--checkpoint']}")
    if c.witnessing:
        ncos, covered = c.witnessing
        text = ", ".join(f"{k} cosigned the first {covered[k]} entries" for k in sorted(covered)) or "no witness key covers any entry"
        print(f"  witnesses: {ncos} cosignatures verify; {text}")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv))
