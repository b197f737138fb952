package host

import (
	"github.com/urfave/cli/v2"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/templates"
)

// debugCommand is `debug payload`: print the rendered payload exactly as it
// would be pushed (SPEC §2.2), self-contained, for reviewers and for running
// by hand (`... | sh`). Bad input exits 2 and prints nothing on stdout.
func (inv *Invocation) debugCommand() *cli.Command {
	return &cli.Command{
		Name:  "debug",
		Usage: "developer and reviewer tools",
		Subcommands: []*cli.Command{{
			Name:  "payload",
			Usage: "print the rendered recovery payload for an agent",
			Flags: append(commonFlags(),
				&cli.StringFlag{Name: "agent", Usage: "openclaw, hermes, or a custom agent from ~/.nemoclaw/agents/<name>.json"},
				&cli.IntFlag{Name: "port", Usage: "dashboard port (default: NEMOCLAW_DASHBOARD_PORT, else 18789)"},
				&cli.BoolFlag{Name: "check", Usage: "check mode (diagnose): report what would change, change nothing"},
				&cli.DurationFlag{Name: "settle", Value: templates.DefaultSettle, Usage: "settle window after the first healthy answer (0 disables)"},
				&cli.BoolFlag{Name: "dashboard-only", Usage: "the Hermes dashboard-only variant"},
				&cli.BoolFlag{Name: "hermes-dashboard", Usage: "hermes: also ensure the optional web dashboard (hermesDashboardEnabled)"},
				&cli.BoolFlag{Name: "tui", Usage: "hermes dashboard: with --tui (hermesDashboardTui)"},
			),
			Action: inv.debugPayload,
		}},
		Action: func(c *cli.Context) error {
			return usageErrorf("debug: missing subcommand; try 'debug payload --agent openclaw'")
		},
	}
}

func (inv *Invocation) debugPayload(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("debug payload: unexpected argument %q", c.Args().First())
	}
	if c.String("agent") == "" {
		return usageErrorf("debug payload: --agent is required (openclaw, hermes, or a custom agent name)")
	}
	port, _ := dashboardPort(nil, inv.Getenv)
	if c.IsSet("port") {
		port = c.Int("port")
		if port < 1 || port > 65535 {
			return usageErrorf("debug payload: invalid --port %d: must be 1-65535", port)
		}
	}
	settle := c.Duration("settle")
	if settle < 0 {
		return usageErrorf("debug payload: invalid --settle %s: must not be negative", settle)
	}
	timeout := c.Duration("timeout")
	if timeout < 0 {
		return usageErrorf("debug payload: invalid --timeout %s: must not be negative", timeout)
	}
	profile, err := resolveAgent(inv.Home(), c.String("agent"), port)
	if err != nil {
		return usageErrorf("debug payload: %v", err)
	}
	p := templates.Params{
		Agent:    profile.Agent,
		Check:    c.Bool("check"),
		Port:     port,
		RunID:    recovery.NewRunID(),
		Deadline: timeout,
		Settle:   settle,
		NoSettle: settle == 0,
	}
	// Run by hand, the script's own deadline is the whole budget.
	if timeout > 0 && timeout < templates.DefaultReadiness {
		p.Readiness = timeout
	}
	if c.Bool("dashboard-only") {
		p.Mode = templates.ModeHermesDashboard
	}
	if c.Bool("hermes-dashboard") || c.Bool("tui") {
		p.HermesDashboard = templates.HermesDashboard{Enabled: true, TUI: c.Bool("tui")}
	}
	script, err := templates.Render(p)
	if err != nil {
		return usageErrorf("debug payload: %v", err)
	}
	_, err = inv.Stdout.Write(script)
	return err
}
