// Package witness takes the trail's checkpoints off the box: it pushes the
// signed checkpoint of the trail's head, with the consistency proof from
// what each witness last cosigned, to every witness of the policy bundle in
// force (data.egress.witnesses), by the C2SP tlog-witness protocol, over
// https or through files carried across an air gap. Each push is a policy
// decision on record (kind witness); each cosignature is verified and kept
// as a witness.cosigned entry and as the witness's latest cosigned
// checkpoint under the data directory; each push that does not end in a
// cosignature is a witness.push_failed entry with its reason, and the next
// push tries again. It never changes anything but the trail and those
// files, and a failed push loses nothing.
package witness
