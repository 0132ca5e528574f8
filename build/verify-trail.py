#!/usr/bin/env python3
"""Verify a pawl audit trail (its audit.db) with nothing but Python's standard library.

Usage: python3 verify-trail.py audit.db [CHECKPOINT_SIZE CHECKPOINT_ROOT_BASE64]
       python3 verify-trail.py --vectors testdata/canonical-json/vectors.json

A thin SQLite front end to engine/review/verify.py, the verifier every
review package carries (`pawl inspect`): the same code checks the entries
here, read from the database, and there, read from entries.jsonl. Checks
every entry's hash and its link to the previous entry, that its time is in
the trail's fixed-width UTC form and not before the previous entry's, that
its details are in canonical JSON form (docs/audit-format.md), and the
engine key history: the project.init key, then each engine.key_rotated
entry's new key, each rotation starting from the key then in force and
signed by both keys (ed25519, in pure Python). Prints the key history and
the RFC 6962 tree root over the entry hashes (the root a signed checkpoint
of that size carries). With a checkpoint's size and root, also checks that
the trail still extends it. With --vectors, checks the canonical JSON
against the shared test vectors instead. Exit status 0 when everything
verifies.
"""
import base64, os, sqlite3, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "engine", "review"))
import verify  # noqa: E402  (engine/review/verify.py)

def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--vectors":
        return verify.check_vectors(sys.argv[2])
    db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
    c = verify.Checker()

    def rows():
        for row in db.execute("SELECT seq, time, operator, os_user, action, object, reason, details, prev_hash, hash FROM entries ORDER BY seq"):
            if any(x is None for x in row):
                c.fail(f"entry {row[0]}: a NULL column")
                return
            yield verify.Entry(*row)

    entries, trail_id = verify.check_entries(rows(), c, "audit.db")
    keys = verify.key_history(entries, trail_id, c, "audit.db") if not c.problems else []
    for p in c.problems:
        print(p.removeprefix("audit.db: "))
    if c.problems:
        return 1
    leaves = [bytes.fromhex(e.hash[len("sha256:"):]) for e in entries]
    print(f"OK: {len(leaves)} entries, head {entries[-1].hash}")
    for k in keys:
        end = f"entry {k['until'] - 1}" if k["until"] else "now"
        print(f"engine key {k['key_id']}: entries {k['from']} to {end}")
    print(f"tree root over {len(leaves)} entries: {base64.b64encode(verify.tree_root(leaves)).decode()}")
    if len(sys.argv) == 4:
        size, root = int(sys.argv[2]), sys.argv[3]
        if size > len(leaves):
            print(f"the checkpoint vouches for {size} entries, the trail has {len(leaves)}: entries were deleted"); return 1
        if base64.b64encode(verify.tree_root(leaves[:size])).decode() != root:
            print(f"the first {size} entries are not the ones the checkpoint vouches for: the trail was rewritten"); return 1
        print(f"the trail extends the checkpoint of {size} entries")
    return 0

if __name__ == "__main__":
    sys.exit(main())
