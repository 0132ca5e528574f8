package esign

// Internals the external tests forge signatures with.
var (
	ManifestFor = manifestFor
	Canonical   = canonical
)
