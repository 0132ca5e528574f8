//go:build failpoints

package failpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Enabled says whether this build honours PAWL_FAILPOINT.
const Enabled = true

var (
	mu     sync.Mutex
	passes = map[string]int{}
)

// Hit kills the process when PAWL_FAILPOINT names this point (and pass),
// after logging the pass to PAWL_FAILPOINT_LOG.
func Hit(name string) {
	if hook != nil {
		hook(name)
	}
	mu.Lock()
	defer mu.Unlock()
	passes[name]++
	n := passes[name]
	if log := os.Getenv("PAWL_FAILPOINT_LOG"); log != "" {
		if f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
			f.WriteString(name + ":" + strconv.Itoa(n) + "\n")
			f.Close()
		}
	}
	want, pass, _ := strings.Cut(os.Getenv("PAWL_FAILPOINT"), ":")
	if want != name {
		return
	}
	if pass != "" && pass != strconv.Itoa(n) {
		return
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way; nothing else may run
}
