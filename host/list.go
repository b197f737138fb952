package host

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
)

// listEntry is one registered sandbox as `list` shows it.
type listEntry struct {
	Name      string `json:"name"`
	Default   bool   `json:"default"`
	Agent     string `json:"agent"`
	Transport string `json:"transport"`
	Port      int    `json:"dashboardPort"`
	// Forward is the dashboard forward's state (not probed: list is fast
	// and touches no sandbox).
	Forward string `json:"forward"`
	PID     int    `json:"forwardPid,omitempty"`
	URL     string `json:"url,omitempty"`
	Error   string `json:"error,omitempty"`
}

type listReport struct {
	SchemaVersion  int             `json:"schemaVersion"`
	Command        string          `json:"command"`
	Outcome        string          `json:"outcome"`
	ExitCode       int             `json:"exitCode"`
	Summary        string          `json:"summary"`
	DefaultSandbox string          `json:"defaultSandbox,omitempty"`
	Steps          []recovery.Step `json:"steps"`
	Sandboxes      []listEntry     `json:"sandboxes"`
}

// listCommand is `list` (SPEC §2.2): the registered sandboxes, the default
// marked, each one's agent, transport, dashboard forward state and URL (the
// URL only for a forward proven ours or OpenShell's). It reads the
// registry and this machine's forward records and touches no sandbox.
func (inv *Invocation) listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "registered sandboxes, the default marked, with their forward state",
		Flags: commonFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("list: unexpected argument %q", c.Args().First())
			}
			out, err := inv.outputFor(c)
			if err != nil {
				return err
			}
			path := registry.DefaultPath(inv.Home())
			reg, err := registry.Load(path)
			if err != nil {
				return err
			}
			rep := &listReport{SchemaVersion: recovery.SchemaVersion, Command: "list", Outcome: "listed",
				DefaultSandbox: reg.DefaultSandbox, Steps: []recovery.Step{}, Sandboxes: []listEntry{}}
			for _, name := range reg.Names() {
				sb := reg.Sandboxes[name]
				e := listEntry{Name: name, Default: name == reg.DefaultSandbox, Agent: agentName(sb), Transport: sb.TransportKind()}
				if t, err := inv.resolveTarget(name, sb, runFlags{}); err != nil {
					e.Error = err.Error()
				} else {
					e.Port = t.Forwards[0].Local
					f := inv.inspectWithOpenShell(c.Context, name, sb, e.Port, false)
					e.Forward, e.PID, e.URL = f.State, f.PID, f.URL
				}
				rep.Sandboxes = append(rep.Sandboxes, e)
			}
			rep.Summary = fmt.Sprintf("%d sandbox(es) registered in %s.", len(rep.Sandboxes), path)
			if len(rep.Sandboxes) == 0 {
				rep.Summary = fmt.Sprintf("No sandboxes are registered in %s.", path)
			}
			if out.json {
				inv.jsonDone = true
				return recovery.WriteJSON(inv.Stdout, rep)
			}
			fmt.Fprintf(inv.Stdout, "  %s\n", rep.Summary)
			if len(rep.Sandboxes) == 0 {
				return nil
			}
			fmt.Fprintln(inv.Stdout)
			rows := make([][]string, 0, len(rep.Sandboxes))
			for _, e := range rep.Sandboxes {
				mark := " "
				if e.Default {
					mark = "*"
				}
				fwd := e.Forward
				if e.PID > 0 {
					fwd = fmt.Sprintf("%s (pid %d)", e.Forward, e.PID)
				}
				url := e.URL
				if e.Error != "" {
					url = e.Error
				}
				rows = append(rows, []string{mark + " " + e.Name, e.Agent, e.Transport, fwd, url, ""})
			}
			out.stdout.Grid([]string{"sandbox", "agent", "transport", "forward", "url", ""}, rows, -1, nil)
			return nil
		},
	}
}
