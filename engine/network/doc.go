// Package network is the network of sites: each site's `pawl serve`
// publishes, after each commit, the trail's signed checkpoint with the
// consistency proof from the size it last published to a hub, an embedded
// NATS server with JetStream (one stream, subjects
// pawl.site.<site>.checkpoint). Only proof of what happened travels, never
// records: each publication is a policy decision on record (kind network),
// and each is a network.published or network.publish_failed entry.
//
// The hub knows each site by its nkey (the only subjects it may publish to
// are its own) and its trail's verifier key. It checks every checkpoint
// against what it holds of the site's trail, keeps the heads and its
// findings in a SQLite file (split view, fork, truncation, unproven, and
// garbage or forged messages, each with its reason), cosigns the
// consistent ones (C2SP tlog-cosignature), and `pawl network status` reads
// them. Each finding and cosignature also goes on the hub's own
// hash-chained trail (trail.db), against which VerifyHub checks hub.db.
// A site that rotates its engine key publishes its key history first
// (kind key); the hub takes a new key only when the rotation is signed by
// the key it holds for the site and by the new key, keeps the history, and
// checks each message against the key in force at its entry (keys.go).
// Messages are content-addressed (the JetStream message id is their
// sha256) and the hub's check is idempotent, so a redelivered or
// duplicated message changes nothing. The hub never changes a site: a
// site whose bundle names the hub as a witness (network: true) asks it for
// its cosignature of what it published (FetchCosignature) and keeps it, after
// checking it against its own trail, as a witness's.
package network
