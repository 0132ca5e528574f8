package project

import (
	"context"
	"fmt"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/lockfile"
)

// PinVersion is one set of pins on record: the entry that wrote pawl.lock
// (a pin.changed or plugin.added) and the pins it wrote.
type PinVersion struct {
	Entry audit.Entry
	Pins  lockfile.Pins
}

// PinVersions lists every set of pins on record, oldest first. Pins the
// store no longer holds are an error: the record cannot be read back.
func (p *Project) PinVersions(ctx context.Context) ([]PinVersion, error) {
	hist, err := p.pinHistory(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PinVersion, 0, len(hist))
	for _, h := range hist {
		pins, ok := p.recordedPins(h.digest)
		if !ok {
			return nil, fmt.Errorf("the pins of audit entry %d (%s) are not in the store: restore the data directory from backup", h.seq, h.digest)
		}
		e, err := p.Trail.Get(ctx, h.seq)
		if err != nil {
			return nil, err
		}
		out = append(out, PinVersion{Entry: e, Pins: pins})
	}
	return out, nil
}
