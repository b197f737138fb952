package host

import (
	"github.com/urfave/cli/v2"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
)

// diagnoseCommand is `<name> diagnose` (SPEC §2.2): a true dry run of
// recover. The payload runs in check mode and the host inspects the
// registry entry, the forward's ownership and the port's holder; each step
// says what recover would change and why. Nothing is changed anywhere.
//
// Its exit code is the one recover is predicted to end with: 0 (nothing to
// do, or a repair recover would make), 1 (recover would refuse or fail), 4
// (the port is held by something not ours), 3/6 (the sandbox cannot be
// reached). Safe while a recover runs.
func (inv *Invocation) diagnoseCommand() *cli.Command {
	return &cli.Command{
		Name:   "diagnose",
		Usage:  "dry run of recover: what it would change, and why (changes nothing)",
		Flags:  runFlagDefs(),
		Action: inv.runVerb(recovery.ModeDiagnose),
	}
}
