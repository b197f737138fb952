package host

import (
	"github.com/urfave/cli/v2"
)

// globalCommands are the commands that do not start with a sandbox name
// (`list`, `status`, `recover --all`, `forward list`, `debug payload`, ...).
// Each lives in the file named for it.
func globalCommands(inv *Invocation) []*cli.Command {
	return []*cli.Command{inv.debugCommand(), inv.forwardListCommand(), inv.forwardDaemonCmd()}
}

// sandboxActions are the `<name> <action>` commands (SPEC §2.2). Each action
// receives the sandbox name as its first argument (see sandboxArgs).
func sandboxActions(inv *Invocation) []*cli.Command {
	return []*cli.Command{inv.forwardSandboxCommand(), inv.execCommand()}
}

func (inv *Invocation) sandboxCommand() *cli.Command {
	return &cli.Command{
		Name:        sandboxCommandName,
		Hidden:      true,
		Subcommands: sandboxActions(inv),
		Action: func(c *cli.Context) error {
			action := c.Args().First()
			if plannedActions[action] {
				return usageErrorf("action %q is not built yet in this version; the README's \"What works today\" lists what is", action)
			}
			return usageErrorf("unknown action %q; run '%s help' for the list", action, inv.Brand.Name)
		},
	}
}

// plannedActions are the SPEC §2.2 actions not built yet: naming them gets a
// plain "not built yet" rather than "unknown action".
var plannedActions = map[string]bool{"connect": true, "recover": true, "status": true, "diagnose": true}
