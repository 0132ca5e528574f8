package validate

import (
	"maps"
	"slices"
	"strings"
)

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func joinLines(s []string) string { return strings.Join(s, "; ") }

// checkClock reports the clock's synchronisation where the OS reports it.
func checkClock(require bool) Check {
	c := Check{ID: "iq.clock", Title: "clock synchronisation",
		Expected: "the kernel reports the clock synchronised by a time service (with --require-clock-sync an unsynchronised clock fails; unknown never fails)"}
	state, detail := clockState()
	c.Evidence = []string{detail}
	switch state {
	case "synchronised":
		c.Status, c.Observed = Pass, "the kernel reports the clock synchronised"
	case Unknown:
		c.Status, c.Observed = Unknown, "unknown: "+detail
	default:
		c.Status = Warn
		if require {
			c.Status = Fail
		}
		c.Observed = "the kernel reports the clock unsynchronised (STA_UNSYNC): pawl's times are the host clock's; start a time service (chrony, systemd-timesyncd) and run this again"
	}
	return c
}
