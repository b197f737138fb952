package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/internal/statefs"
	"github.com/nemoclaw/nemoclaw-go/templates"
)

// runFlagDefs are the flags of the run verbs (recover, connect, status,
// diagnose), on top of the common ones.
func runFlagDefs(extra ...cli.Flag) []cli.Flag {
	return append(append(commonFlags(),
		&cli.DurationFlag{Name: "settle", Value: templates.DefaultSettle, Usage: "how long a relaunched gateway must stay up with the same PID (0 disables)"},
	), extra...)
}

// verbSetup reads what every run verb reads first: its output (--json,
// --color, --quiet, --verbose) and its run flags, all validated.
func (inv *Invocation) verbSetup(c *cli.Context) (*output, runFlags, error) {
	out, err := inv.outputFor(c)
	if err != nil {
		return nil, runFlags{}, err
	}
	flags, err := readRunFlags(c)
	return out, flags, err
}

// readRunFlags validates what every run verb reads.
func readRunFlags(c *cli.Context) (runFlags, error) {
	f := runFlags{timeout: c.Duration("timeout"), settle: c.Duration("settle"), settleSet: c.IsSet("settle")}
	if f.timeout < 0 {
		return f, usageErrorf("%s: invalid --timeout %s: must not be negative", c.Command.Name, f.timeout)
	}
	if f.settle < 0 {
		return f, usageErrorf("%s: invalid --settle %s: must not be negative", c.Command.Name, f.settle)
	}
	if f.timeout > 0 && f.timeout < 5e9 {
		return f, usageErrorf("%s: --timeout %s is too short to inspect anything: give at least 5s", c.Command.Name, f.timeout)
	}
	if c.IsSet("require-inference") {
		f.requireInference = c.Bool("require-inference")
	}
	return f, nil
}

// runRequest is one run of the engine against one sandbox.
type runRequest struct {
	name  string
	mode  recovery.Mode
	flags runFlags
	// keepTransport: connect's shell needs the connection afterwards.
	keepTransport bool
	progress      func(string)
}

// runSandbox resolves name and runs the engine against it. Errors before
// the run (unknown sandbox, registry, lock held) come back as a report too,
// so every outcome prints the same way.
func (inv *Invocation) runSandbox(ctx context.Context, req runRequest) recovery.Result {
	command := map[recovery.Mode]string{recovery.ModeRecover: "recover", recovery.ModeStatus: "status", recovery.ModeDiagnose: "diagnose"}[req.mode]
	fail := func(outcome string, err error) recovery.Result {
		return recovery.Result{Report: recovery.ErrorReport(command, req.name, outcome, exitcode.Of(err), err)}
	}
	sb, err := inv.lookupSandbox(req.name)
	if err != nil {
		return fail(errorOutcome(err), err)
	}
	t, err := inv.resolveTarget(req.name, sb, req.flags)
	if err != nil {
		return fail("usage-error", err)
	}
	if req.mode == recovery.ModeRecover {
		// Recoveries of one sandbox never overlap on this machine; status
		// and diagnose change nothing and need no lock.
		lock, holder, err := inv.lockSandbox(req.name)
		if errors.Is(err, statefs.ErrLocked) {
			r := recovery.ErrorReport(command, req.name, "in-progress", exitcode.InProgress,
				fmt.Errorf("another recovery of '%s' is in progress on this machine%s", req.name, holder))
			r.Summary = fmt.Sprintf("Probe failed: another recovery of '%s' is in progress%s.", req.name, holder)
			r.Diagnostics = &recovery.Diagnostics{FailingStep: "lock", Reason: r.Error,
				Next: fmt.Sprintf("wait for it to finish; '%s %s status' shows the state without waiting", inv.Brand.Name, req.name)}
			return recovery.Result{Report: r}
		}
		if err != nil {
			return fail("failed", err)
		}
		defer lock.Unlock()
	}
	if req.flags.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.flags.timeout)
		defer cancel()
	}
	return recovery.Run(ctx, t, inv.runDeps(req.name, sb), recovery.Options{
		Mode:             req.mode,
		RunID:            recovery.NewRunID(),
		RequireInference: req.flags.requireInference,
		KeepTransport:    req.keepTransport,
		Progress:         req.progress,
	})
}

// lockSandbox takes this machine's run lock of a sandbox
// (~/.nemoclaw/state/locks/<name>.lock, a flock the kernel drops however
// the holder ends). When another process holds it, holder says which pid,
// as recorded in the file.
func (inv *Invocation) lockSandbox(name string) (*statefs.Lock, string, error) {
	dir := filepath.Join(registry.StateDir(inv.Home()), "locks")
	if err := statefs.EnsurePrivateDir(dir); err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, name+".lock")
	l, err := statefs.TryLock(path)
	if errors.Is(err, statefs.ErrLocked) {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		return nil, holder, err
	}
	if err != nil {
		return nil, "", err
	}
	// Informational only: the flock is the lock.
	_ = os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	return l, "", nil
}

// runVerb is the action of recover, status and diagnose for one sandbox.
func (inv *Invocation) runVerb(mode recovery.Mode) cli.ActionFunc {
	return func(c *cli.Context) error {
		name, rest, _ := sandboxArgs(c)
		if len(rest) > 0 {
			return usageErrorf("%s: unexpected argument %q", c.Command.Name, rest[0])
		}
		out, flags, err := inv.verbSetup(c)
		if err != nil {
			return err
		}
		set, stop := out.progress()
		res := inv.runSandbox(c.Context, runRequest{name: name, mode: mode, flags: flags, progress: set})
		stop()
		return out.emit(inv, res.Report)
	}
}
