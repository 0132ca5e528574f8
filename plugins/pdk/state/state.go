// Package state is the guest side of the host's keyed state
// (docs/plugin-abi.md §8) for Go plugins: Get and Put, which a plugin calls
// from Validate. Declare "state" in the manifest; a module that does not
// import this package does not import pawl.state_get or pawl.state_put,
// which the host requires of a plugin without state.
//
// It is a package of its own, not part of pdk, so that the modules of
// stateless plugins stay byte for byte what they were (their pins, and so
// the batch ids of every job that runs them, do not change).
package state

// Store is the state as a test's stand-in for the host sets it (Use).
type Store interface {
	Get(key []byte) ([]byte, bool)
	Put(key, value []byte) error
}

// Get returns key's value, in buf when it fits (else in a new slice), and
// whether the key is there.
func Get(key, buf []byte) ([]byte, bool) { return get(key, buf) }

// Put sets key's value; an empty value removes the key. Going over the
// manifest's limits stops the plugin and fails the batch.
func Put(key, value []byte) { put(key, value) }
