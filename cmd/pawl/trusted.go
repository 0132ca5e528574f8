package main

import (
	"errors"
	"fmt"

	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/spf13/cobra"
)

// openTrusted opens the project like a.open, for a command that vouches for
// the trail or appends to it (audit checkpoint, audit export, sign, export),
// after checking that the trail verifies (review.CheckTrail). The check
// runs on a read-only opening first, before recovery and the authz
// question could write anything: a trail that does not verify cannot be
// trusted to append to, so the refusal is on the caller's screen only
// (exit 4, does not verify), and `pawl audit verify` says the rest.
func (a *app) openTrusted(c *cobra.Command) (*project.Project, error) {
	ro, err := a.openReadOnly(c)
	if err != nil {
		return nil, err
	}
	err = review.CheckTrail(c.Context(), ro)
	ro.Close()
	if err != nil {
		return nil, err
	}
	return a.open(c)
}

// warnBrokenTrail prints on stderr, for a command that only reads the trail
// (audit log), that the trail does not verify and where: an inspector must
// still be able to read a broken trail, but not without being told.
func (a *app) warnBrokenTrail(c *cobra.Command, p *project.Project) {
	err := review.CheckTrail(c.Context(), p)
	var be *review.BrokenTrailError
	switch {
	case errors.As(err, &be):
		fmt.Fprintf(a.s.err, "WARNING: %s; entries from there on cannot be trusted: run `pawl audit verify` for the details\n", be.Summary())
	case err != nil:
		fmt.Fprintf(a.s.err, "WARNING: the audit trail could not be verified: %v\n", err)
	}
}
