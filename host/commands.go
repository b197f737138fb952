package host

import (
	"github.com/urfave/cli/v2"
)

// globalCommands are the commands that do not start with a sandbox name
// (`list`, `status`, `recover --all`, `forward list`, `debug payload`, ...).
// Each lives in the file named for it.
func globalCommands(inv *Invocation) []*cli.Command {
	return []*cli.Command{
		inv.listCommand(),
		inv.statusAllCommand(),
		inv.recoverAllCommand(),
		inv.forwardListCommand(),
		inv.debugCommand(),
		inv.forwardDaemonCmd(),
	}
}

// sandboxActions are the `<name> <action>` commands (SPEC §2.2). Each action
// receives the sandbox name as its first argument (see sandboxArgs).
func sandboxActions(inv *Invocation) []*cli.Command {
	return []*cli.Command{
		inv.recoverCommand(),
		inv.connectCommand(),
		inv.statusCommand(),
		inv.diagnoseCommand(),
		inv.dashboardCommand(),
		inv.forwardSandboxCommand(),
		inv.execCommand(),
	}
}

func (inv *Invocation) sandboxCommand() *cli.Command {
	return &cli.Command{
		Name:        sandboxCommandName,
		Hidden:      true,
		Subcommands: sandboxActions(inv),
		Action: func(c *cli.Context) error {
			return usageErrorf("unknown action %q; run '%s help' for the list", c.Args().First(), inv.Brand.Name)
		},
	}
}
