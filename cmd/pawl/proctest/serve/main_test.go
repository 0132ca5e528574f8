package serve

import (
	"testing"

	"github.com/pawl-dev/pawl/cmd/pawl/proctest"
)

func TestMain(m *testing.M) { proctest.Main(m) }

// The shared helpers, under the names the tests use.
var (
	demoAsOf            = proctest.DemoAsOf
	build               = proctest.Build
	buildPawl           = proctest.BuildPawl
	pawlPass            = proctest.PawlPass
	pawl                = proctest.Pawl
	mustPawl            = proctest.MustPawl
	whitelist           = proctest.Whitelist
	pinTwoPerson        = proctest.PinTwoPerson
	committedBatch      = proctest.CommittedBatch
	quarantinedOrdinals = proctest.QuarantinedOrdinals
	writeGen            = proctest.WriteGen
)

const (
	good        = proctest.Good
	killRecords = proctest.KillRecords
)
