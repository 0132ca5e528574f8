// Package inbox is the data-CI gate: it scans the inboxes of the jobs'
// sources (`sources:` in a job spec), runs each file that landed complete
// as a batch of its job, moves it out of the inbox by its content hash, and
// sends the source a notice (a quarantine report) through the egress
// policy.
//
// It guarantees that a partial file is never read (rename mode: names
// starting with "." or ending in .part or .tmp are skipped; done-marker
// mode: NAME waits for NAME.done), that a file which changed or disappeared
// while it was read commits nothing and stays for the next scan, that a
// file is moved only after its batch's commit point (so a crash in between
// leaves it in the inbox, and the next scan finds its batch committed by
// its content-derived id: nothing runs twice, nothing is lost), and that a
// notice never blocks the gate: one that cannot be delivered waits in a
// durable queue in the data directory and is retried, after a pause that
// doubles up to an hour, each attempt bounded by notice.timeout. Every
// pick-up, failure, deferral and notice is on record.
//
// It polls; it does not use inotify, which misses changes on NFS and other
// network file systems where landing directories often live.
package inbox
