package validate

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// clockState asks the kernel (adjtimex, read only) whether the clock is
// synchronised: the STA_UNSYNC status bit and the TIME_ERROR state, which a
// time service (chrony, ntpd, systemd-timesyncd) clears.
func clockState() (state string, detail string) {
	var tx unix.Timex // modes 0: read, change nothing
	st, err := unix.Adjtimex(&tx)
	if err != nil {
		return Unknown, "adjtimex: " + err.Error()
	}
	detail = fmt.Sprintf("adjtimex: state %d, status 0x%x, maximum error %d µs, estimated error %d µs", st, tx.Status, tx.Maxerror, tx.Esterror)
	if tx.Status&unix.STA_UNSYNC != 0 || st == unix.TIME_ERROR {
		return "unsynchronised", detail
	}
	return "synchronised", detail
}
