//go:build !linux

package validate

import "runtime"

// clockState: outside Linux pawl does not ask the OS; the state is unknown.
func clockState() (state string, detail string) {
	return Unknown, "pawl does not read the clock's synchronisation on " + runtime.GOOS
}
