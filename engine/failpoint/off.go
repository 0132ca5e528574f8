//go:build !failpoints

package failpoint

// Hit marks a crash point. In a release build it does nothing.
func Hit(name string) {}

// Enabled says whether this build honours PAWL_FAILPOINT.
const Enabled = false
