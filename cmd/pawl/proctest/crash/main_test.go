package crash

import (
	"testing"

	"github.com/pawl-dev/pawl/cmd/pawl/proctest"
)

func TestMain(m *testing.M) { proctest.Main(m) }
