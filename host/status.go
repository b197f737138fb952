package host

import (
	"github.com/urfave/cli/v2"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
)

// statusCommand is `<name> status` (SPEC §2.2): read-only. The payload runs
// in check mode (no lock, no writes), the forward is inspected and the
// dashboard probed through it. It exits non-zero for anything it could not
// verify (1 gateway, 4 forward or dashboard, 5 inference, 3/6 transport)
// and never calls healthy what it did not verify. Safe while a recover
// runs.
func (inv *Invocation) statusCommand() *cli.Command {
	return &cli.Command{
		Name:   "status",
		Usage:  "read-only: gateway health, guard chain, forward, dashboard and inference",
		Flags:  runFlagDefs(),
		Action: inv.runVerb(recovery.ModeStatus),
	}
}
