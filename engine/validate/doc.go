// Package validate is pawl's installation and operational qualification
// kit (`pawl validate`), the evidence a regulated user produces in their
// own environment, and the traceability table from each requirement of 21
// CFR Part 11 and EU GMP Annex 11 to that evidence and to pawl's developer
// tests (docs/part11.md is generated from it).
//
// IQ checks the running binary (sha256, module and dependency versions),
// a project's files (keys not open to group or others, trail and data
// directory not world-writable, owners named), the clock's synchronisation
// where the OS reports it and the accounts. OQ does, in a scratch project
// of its own in a temporary directory (never the user's), each bad thing
// the table names — an edited entry, a truncated trail, a swapped blob, a
// wrong passphrase, a denied export, an unapproved plugin, a hostile plugin
// — through the engine's own code paths, and checks that it is refused or
// detected. Each check says what it expected, what it observed and its
// evidence. The report (validation.json, validation.html) is signed
// (validation.sig): with the engine key, and on record, in a project;
// otherwise with a key made for the run, and says it is self-signed.
package validate
