//go:build !failpoints

package failpoint

// Hit marks a crash point. In a release build it does nothing but call
// the hook a process set (SetHook).
func Hit(name string) {
	if hook != nil {
		hook(name)
	}
}

// Enabled says whether this build honours PAWL_FAILPOINT.
const Enabled = false
