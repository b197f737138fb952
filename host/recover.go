package host

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
)

// recoverCommand is `<name> recover` (SPEC §2.2): repair the guard chain,
// relaunch the gateway if it is down, ensure the forward, probe, report.
// On a healthy sandbox it changes nothing.
func (inv *Invocation) recoverCommand() *cli.Command {
	return &cli.Command{
		Name:   "recover",
		Usage:  "repair the guard chain, relaunch the gateway if down, restore the forward, probe and report",
		Flags:  runFlagDefs(requireInferenceFlag()),
		Action: inv.runVerb(recovery.ModeRecover),
	}
}

func requireInferenceFlag() cli.Flag {
	return &cli.BoolFlag{Name: "require-inference", Usage: "exit 5 when the sandbox's inference route is broken"}
}

// recoverAllCommand is the global `recover --all [--parallel N]`: every
// registered sandbox, at most N at a time, one result row each as it
// finishes; the worst exit code wins; Ctrl-C stops the rest cleanly.
func (inv *Invocation) recoverAllCommand() *cli.Command {
	return &cli.Command{
		Name:      "recover",
		Usage:     "recover every registered sandbox (recover --all)",
		ArgsUsage: "--all [--parallel N]",
		Flags: runFlagDefs(requireInferenceFlag(),
			&cli.BoolFlag{Name: "all", Usage: "every registered sandbox"},
			&cli.IntFlag{Name: "parallel", Value: 4, Usage: "how many sandboxes at once (1-64)"}),
		Action: func(c *cli.Context) error {
			if !c.Bool("all") {
				return usageErrorf("recover: name a sandbox (%s <name> recover) or give --all", inv.Brand.Name)
			}
			return inv.runAll(c, recovery.ModeRecover)
		},
	}
}

// statusAllCommand is the global `status`: every registered sandbox,
// read-only.
func (inv *Invocation) statusAllCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "status of every registered sandbox (read-only)",
		Flags: runFlagDefs(&cli.IntFlag{Name: "parallel", Value: 4, Usage: "how many sandboxes at once (1-64)"}),
		Action: func(c *cli.Context) error {
			return inv.runAll(c, recovery.ModeStatus)
		},
	}
}

// fleetReport is the one --json object of a fleet run.
type fleetReport struct {
	SchemaVersion int                `json:"schemaVersion"`
	Command       string             `json:"command"`
	Outcome       string             `json:"outcome"`
	ExitCode      int                `json:"exitCode"`
	Summary       string             `json:"summary"`
	Steps         []recovery.Step    `json:"steps"`
	Runs          []*recovery.Report `json:"runs"`
}

func (inv *Invocation) runAll(c *cli.Context, mode recovery.Mode) error {
	if c.NArg() > 0 {
		return usageErrorf("%s: unexpected argument %q", c.Command.Name, c.Args().First())
	}
	out, flags, err := inv.verbSetup(c)
	if err != nil {
		return err
	}
	n := c.Int("parallel")
	if n < 1 || n > 64 {
		return usageErrorf("%s: invalid --parallel %d: want 1-64", c.Command.Name, n)
	}
	reg, err := registry.Load(registry.DefaultPath(inv.Home()))
	if err != nil {
		return err
	}
	names := reg.Names()
	command := "recover --all"
	if mode == recovery.ModeStatus {
		command = "status"
	}
	ctx := c.Context
	reports := make([]*recovery.Report, len(names))
	width := 0
	for _, name := range names {
		width = max(width, len(name))
	}
	var mu sync.Mutex // one row at a time on stdout
	row := func(r *recovery.Report) {
		if out.json {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(inv.Stdout, "  %-*s  %3d  %s\n", width, r.Sandbox, r.ExitCode, r.Summary)
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, name := range names {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			// Interrupted: what has not started never starts.
			reports[i] = recovery.ErrorReport(mode2command(mode), name, "interrupted", exitcode.Interrupted,
				fmt.Errorf("not started: interrupted"))
			row(reports[i])
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res := inv.runSandbox(ctx, runRequest{name: name, mode: mode, flags: flags})
			reports[i] = res.Report
			row(res.Report)
		}()
	}
	wg.Wait()

	worst := exitcode.OK
	counts := map[bool]int{}
	for _, r := range reports {
		worst = worse(worst, r.ExitCode)
		counts[r.ExitCode == exitcode.OK]++
	}
	fr := &fleetReport{SchemaVersion: recovery.SchemaVersion, Command: command, ExitCode: worst,
		Steps: []recovery.Step{}, Runs: reports, Outcome: "ok"}
	if worst != exitcode.OK {
		fr.Outcome = "some-failed"
	}
	if ctx.Err() != nil {
		fr.Outcome = "interrupted"
	}
	fr.Summary = fmt.Sprintf("%s: %d sandbox(es), %d ok, %d not (worst exit %d).", command, len(names), counts[true], counts[false], worst)
	if len(names) == 0 {
		fr.Summary = fmt.Sprintf("%s: no sandboxes are registered in %s.", command, registry.DefaultPath(inv.Home()))
	}
	if out.json {
		inv.jsonDone = true
		recovery.WriteJSON(inv.Stdout, fr)
	} else {
		fmt.Fprintf(inv.Stdout, "  %s\n", fr.Summary)
		var failedOnes []string
		for _, r := range reports {
			if r.ExitCode != exitcode.OK {
				failedOnes = append(failedOnes, r.Sandbox)
			}
		}
		if len(failedOnes) > 0 {
			sort.Strings(failedOnes)
			fmt.Fprintf(inv.Stdout, "  Next: '%s <name> %s' for each of %s shows why\n", inv.Brand.Name, mode2command(mode), strings.Join(failedOnes, ", "))
		}
	}
	if worst != exitcode.OK {
		return silentError{worst}
	}
	return nil
}

func mode2command(m recovery.Mode) string {
	switch m {
	case recovery.ModeStatus:
		return "status"
	case recovery.ModeDiagnose:
		return "diagnose"
	}
	return "recover"
}

// severity orders exit codes for "the worst wins": an interrupt above all,
// then what stops a script cold (usage, host key, unreachable, failed),
// then a lock held elsewhere, then a forward, then inference, then 0.
var severity = map[int]int{
	exitcode.OK: 0, exitcode.Inference: 1, exitcode.Forward: 2, exitcode.InProgress: 3,
	exitcode.Failed: 4, exitcode.Unreachable: 5, exitcode.HostKey: 6, exitcode.Usage: 7, exitcode.Interrupted: 8,
}

func worse(a, b int) int {
	if severity[b] > severity[a] {
		return b
	}
	return a
}
