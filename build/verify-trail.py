#!/usr/bin/env python3
"""Verify a pawl audit trail with nothing but Python's standard library.

Usage: python3 verify-trail.py audit.db [CHECKPOINT_SIZE CHECKPOINT_ROOT_BASE64]

Checks every entry's hash and its link to the previous entry, as described in
docs/audit-format.md, and prints the RFC 6962 tree root over the entry hashes
(the root a signed checkpoint of that size carries). With a checkpoint's size
and root, also checks that the trail still extends it. Exit status 0 when
everything verifies.
"""
import base64, hashlib, json, sqlite3, sys

def jstr(s):
    # The trail's string escaping: only '"', '\\' and characters below U+0020.
    return json.dumps(s, ensure_ascii=False)

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
    db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
    prev = "sha256:" + "0" * 64
    leaves = []
    expect = 1
    for row in db.execute("SELECT seq, time, operator, os_user, action, object, reason, details, prev_hash, hash FROM entries ORDER BY seq"):
        seq, stored_prev, stored = row[0], row[8], row[9]
        if seq != expect:
            print(f"entry {expect}: missing (seq jumps to {seq})"); return 1
        if stored_prev != prev:
            print(f"entry {seq}: prev_hash does not match entry {seq - 1}"); return 1
        computed = entry_hash(*row[:9])
        if computed != stored:
            print(f"entry {seq}: hash mismatch: stored {stored}, computed {computed}"); return 1
        prev = stored
        leaves.append(bytes.fromhex(stored[len("sha256:"):]))
        expect += 1
    print(f"OK: {len(leaves)} entries, head {prev}")
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
