package ratchet

import (
	"fmt"
	"strings"
	"sync"

	"github.com/pawl-dev/pawl/engine/sandbox"
)

// MaxPluginLogBytes bounds what a batch keeps of one plugin's output
// (stdout, stderr and pawl.log of all its instances, each instance capped
// at the sandbox's MaxOutputBytes, 16 KiB by default): the first bytes, and
// a line saying how many more were dropped.
const MaxPluginLogBytes = 64 << 10

// pluginLog gathers a plugin's output over a batch: diagnostics for the
// operator (`pawl run --plugin-log`), never part of a verdict or the record.
type pluginLog struct {
	mu      sync.Mutex
	buf     strings.Builder
	dropped int
}

func (l *pluginLog) add(out string) {
	if l == nil || out == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	room := MaxPluginLogBytes - l.buf.Len()
	if room >= len(out) {
		l.buf.WriteString(out)
		return
	}
	if room > 0 {
		l.buf.WriteString(out[:room])
	}
	l.dropped += len(out) - max(room, 0)
}

func (l *pluginLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	if l.dropped > 0 {
		s += fmt.Sprintf("\n[… %d more bytes dropped: a batch keeps the first %d bytes of a plugin's output]\n", l.dropped, MaxPluginLogBytes)
	}
	return s
}

// collect keeps what instance c wrote, before it is closed.
func (v *validator) collect(c checker) {
	if in, ok := c.(*sandbox.Instance); ok {
		v.log.add(in.Output())
	}
}

// PluginLogs is what each of the plan's plugins wrote during the batch, by
// name@version; plugins that wrote nothing are absent.
func (pl *Plan) PluginLogs() map[string]string {
	out := map[string]string{}
	for _, v := range pl.validators {
		if v.log == nil {
			continue
		}
		if s := v.log.String(); s != "" {
			out[v.id] = s
		}
	}
	return out
}
