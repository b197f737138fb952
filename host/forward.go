package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/urfave/cli/v2"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/internal/statefs"
	"github.com/nemoclaw/nemoclaw-go/portforward"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// The supervised dashboard forward (SPEC §6) as the operator drives it:
// `<name> forward start|stop|status`, `forward list`, and the hidden
// `forward-daemon` that `forward start` launches detached.
//
// Decisions where the spec is silent:
//   - "Healthy" is: the state record's daemon is proven ours (pid alive,
//     command line ours for this sandbox and port, control socket answering
//     with the same forward id) and an HTTP GET / through the port gets any
//     HTTP answer. Ours but not healthy is stopped (after the proof) and
//     replaced; a record whose daemon is gone is removed and replaced.
//   - A daemon that becomes ready (listener bound, SSH connected with the
//     host key verified) but through which the dashboard does not answer is
//     left running, because it will serve as soon as the gateway is back;
//     the command still exits 4 and says so.
//   - `forward stop` with nothing of ours running exits 0 (the goal "no
//     forward of ours" holds); `forward status` exits 4 unless healthy.
//   - A daemon of ours that no record names (an "orphan", proven by its
//     process: see portforward.ProveDaemonProcess) is listed by `forward
//     list`, reported by `forward status` (exit 4, no URL), ended by
//     `forward stop`, and replaced by `forward start`, never called
//     foreign. Daemons carry --forwards-dir so that a process scan can
//     tell this HOME's daemons from another's; one started by a nemoclaw
//     without that flag is found by its record only.

// Three environment knobs, read through inv.Getenv:
//   - NEMOCLAW_FORWARD_BINARY: the executable started as the daemon
//     (default: this executable). Needed when this process is a temporary
//     build (go run) or a test binary.
//   - NEMOCLAW_FORWARD_REMOTE_HOST: the host dialled inside the sandbox
//     (default 127.0.0.1). Tests run sshd in the host's own network
//     namespace, where 127.0.0.1:<port> would be the forward itself.
//   - NEMOCLAW_FORWARD_RECORD_CHECK: how often a connected daemon re-reads
//     its state record to find out it is orphaned (a Go duration; default
//     portforward.DefaultRecordCheck, 10 s). Tests set it to tell the
//     periodic check from the one made before each reconnect.

// forwardStopGrace is how long a stopped daemon may take to exit on TERM
// before it is killed.
const forwardStopGrace = 5 * time.Second

// forwardPort is the port `<name> forward ...` manages: --port when given
// (e.g. Hermes's API port 8642, SPEC §3.2), else the dashboard port of SPEC
// §3.2 (registry dashboardPort, NEMOCLAW_DASHBOARD_PORT, 18789). The same
// port is used on the host and inside the sandbox.
func (inv *Invocation) forwardPort(c *cli.Context, sb *registry.Sandbox) (int, error) {
	if c.IsSet("port") {
		p := c.Int("port")
		if p < 1 || p > 65535 {
			return 0, usageErrorf("forward %s: invalid --port %d: must be 1-65535", c.Command.Name, p)
		}
		return p, nil
	}
	var fromRegistry any
	if sb != nil && sb.DashboardPort != 0 {
		fromRegistry = sb.DashboardPort
	}
	p, _ := dashboardPort(fromRegistry, inv.Getenv)
	return p, nil
}

// forwardOrphanPort finds the port of a forward of a sandbox that is no
// longer registered, from its records and from daemons of ours found by
// process: --port when one exists for it, else the only such port.
func (inv *Invocation) forwardOrphanPort(c *cli.Context, name string) (int, bool) {
	states, _ := portforward.ListStates(inv.forwardDir())
	var ports []int
	for _, st := range states {
		if st.Sandbox == name {
			ports = append(ports, st.Port)
		}
	}
	for _, p := range inv.orphanPorts(c.Context, name) {
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	if c.IsSet("port") {
		for _, p := range ports {
			if p == c.Int("port") {
				return p, true
			}
		}
		return 0, false
	}
	if len(ports) == 1 {
		return ports[0], true
	}
	return 0, false
}

func (inv *Invocation) forwardDir() string {
	return filepath.Join(registry.StateDir(inv.Home()), "forwards")
}

// forwardLock serialises start and stop of one forward (sandbox and port)
// across processes, so two recoveries never start two daemons.
func forwardLock(ctx context.Context, path string) (*statefs.Lock, error) {
	l, err := statefs.LockWait(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("locking forward: %w", err)
	}
	return l, nil
}

// inspectForward says what holds sandbox's forward port now, without
// changing anything.
func (inv *Invocation) inspectForward(ctx context.Context, name string, port int, probe bool) (recovery.ForwardReport, portforward.State, bool) {
	r := recovery.ForwardReport{Sandbox: name, Port: port}
	paths := portforward.PathsFor(inv.forwardDir(), name, port)
	st, err := portforward.ReadState(paths.State)
	haveState := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.Detail = err.Error()
	}
	if haveState {
		r.Log = st.Log
		status, verr := portforward.Verify(ctx, st)
		if verr == nil {
			r.PID, r.ID = st.PID, st.ID
			c := status.Counters
			r.Counters = &c
			if !probe {
				r.State = "running"
				r.URL = recovery.URLFor(port)
				return r, st, true
			}
			code, perr := portforward.ProbeHTTP(ctx, port)
			if perr == nil {
				r.State, r.HTTPStatus, r.URL = "healthy", code, recovery.URLFor(port)
				return r, st, true
			}
			r.State = "unhealthy"
			r.Detail = perr.Error()
			if c.LastError != "" {
				r.Detail += "; daemon's last error: " + c.LastError
			}
			return r, st, true
		}
		r.State = "dead"
		r.Detail = verr.Error()
		// A daemon just killed shows as a zombie while its other threads
		// still hold the socket; give it a moment to let go of the port
		// rather than calling our own dying daemon foreign.
		portforward.WaitExited(ctx, st.PID, 2*time.Second)
	}
	if h, held := portforward.PortHolder(port); held {
		if d, ok := inv.portOrphan(ctx, name, port, h); ok {
			o := orphanReport(d, haveState)
			o.Log = r.Log
			return o, st, haveState
		}
		r.State = "foreign"
		r.Holder = &h
		r.PID, r.ID, r.URL, r.Counters = 0, "", "", nil
		if r.Detail == "" {
			r.Detail = (&portforward.ForeignListenerError{Port: port, Holder: h}).Error()
		}
		return r, st, haveState
	}
	if !haveState {
		r.State = "absent"
	}
	return r, st, haveState
}

// ensureForward makes sure a healthy forward of ours serves sandbox name on
// port: kept when already healthy, otherwise (re)started. A port held by
// anything that is not ours is a *portforward.ForeignListenerError (exit
// 4), and that process is left alone. It is what `forward start` runs and
// what recovery calls after the gateway is up.
func (inv *Invocation) ensureForward(ctx context.Context, name string, sb *registry.Sandbox, port, remotePort int) (recovery.ForwardReport, error) {
	dir := inv.forwardDir()
	if err := statefs.EnsurePrivateDir(dir); err != nil {
		return recovery.ForwardReport{Sandbox: name, Port: port}, err
	}
	paths := portforward.PathsFor(dir, name, port)
	lock, err := forwardLock(ctx, paths.Lock)
	if err != nil {
		return recovery.ForwardReport{Sandbox: name, Port: port}, err
	}
	defer lock.Unlock()

	r, st, haveState := inv.inspectForward(ctx, name, port, true)
	if r.State == recovery.ForwardForeign {
		own := inv.withOpenShellForward(ctx, name, sb, r)
		if own.State == recovery.ForwardHealthy {
			own.Action = "kept"
			return own, nil
		}
		if own.Detail != r.Detail {
			// OpenShell's forward of another sandbox, or one that does
			// not answer: say so, and leave it.
			return own, withCode(exitcode.Forward, errors.New(own.Detail),
				fmt.Sprintf("'openshell forward list' shows it; stop it there, or give sandbox '%s' another dashboardPort", name))
		}
	}
	action := "started"
	if r.State != recovery.ForwardHealthy {
		stopped, err := inv.stopDeadOpenShellForward(ctx, name, sb, port)
		if err != nil {
			return r, err
		}
		if stopped {
			action = "replaced"
		}
	}
	switch r.State {
	case "healthy":
		r.Action = "kept"
		return r, nil
	case "unhealthy":
		// Proven ours: safe to stop, then replace below.
		if err := portforward.StopDaemon(ctx, paths, st, forwardStopGrace); err != nil {
			return r, fmt.Errorf("stopping the unhealthy forward daemon: %w", err)
		}
		action = "replaced"
	case "dead", "foreign":
		if haveState {
			// Never signalled: the record does not prove the pid is ours.
			portforward.RemoveStale(paths, st)
			action = "replaced"
		}
	case "orphan":
		// Proven ours by its process: stopped, then replaced below.
		if err := inv.stopOrphan(ctx, name, port, r.PID); err != nil {
			return r, err
		}
		if haveState {
			portforward.RemoveStale(paths, st)
		}
		action = "replaced"
	}

	l, err := portforward.Listen(port)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			h, _ := portforward.PortHolder(port)
			return recovery.ForwardReport{Sandbox: name, Port: port, State: "foreign", Holder: &h},
				withCode(exitcode.Forward, &portforward.ForeignListenerError{Port: port, Holder: h},
					fmt.Sprintf("stop that process or give sandbox '%s' another dashboardPort, then run '%s %s forward start'", name, inv.Brand.Name, name))
		}
		return recovery.ForwardReport{Sandbox: name, Port: port}, withCode(exitcode.Forward, err, "")
	}
	defer l.Close()

	bin, err := inv.forwardBinary()
	if err != nil {
		return recovery.ForwardReport{Sandbox: name, Port: port}, err
	}
	remoteHost := inv.Getenv("NEMOCLAW_FORWARD_REMOTE_HOST")
	if remoteHost == "" {
		remoteHost = "127.0.0.1"
	}
	id := uuid.NewString()
	args := []string{forwardDaemonCommand,
		"--sandbox", name, "--port", strconv.Itoa(port), "--id", id, "--" + portforward.ForwardsDirFlag, dir,
		"--remote", net.JoinHostPort(remoteHost, strconv.Itoa(remotePort)),
		"--listen-fd", strconv.Itoa(portforward.ListenerFD), "--ready-fd", strconv.Itoa(portforward.ReadyFD)}
	pid, err := portforward.StartDaemon(ctx, portforward.StartOptions{
		Binary:   bin,
		Args:     args,
		Env:      inv.forwardDaemonEnv(),
		Paths:    paths,
		Listener: l,
	})
	if err != nil {
		// The daemon was killed and reaped; its record, if it wrote one
		// before failing, must not outlive it.
		portforward.RemoveStale(paths, portforward.State{ID: id, Control: paths.Control})
		err = fmt.Errorf("starting the forward for sandbox '%s': %w", name, err)
		return recovery.ForwardReport{Sandbox: name, Port: port, State: "absent", Log: paths.Log},
			withCode(exitcode.Of(err), err, "the forward daemon's log is "+paths.Log)
	}
	r = recovery.ForwardReport{Sandbox: name, Port: port, Action: action, PID: pid, ID: id, Log: paths.Log, URL: recovery.URLFor(port)}
	code, perr := portforward.ProbeHTTP(ctx, port)
	if perr != nil {
		r.State, r.Detail = "unhealthy", perr.Error()
		return r, withCode(exitcode.Forward, fmt.Errorf("the forward daemon runs (pid %d) but the dashboard in sandbox '%s' did not answer through it: %w", pid, name, perr),
			fmt.Sprintf("check the gateway with '%s %s status'; the forward serves by itself once it answers", inv.Brand.Name, name))
	}
	r.State, r.HTTPStatus = "healthy", code
	return r, nil
}

// forwardDaemonEnv is the daemon's environment: the process's own, with
// the invocation's view of HOME (registry, state), of the SSH agent, of the
// OpenShell CLI and of the record-check knob.
func (inv *Invocation) forwardDaemonEnv() []string {
	env := os.Environ()
	for _, k := range []string{"HOME", "SSH_AUTH_SOCK", "USER", "NEMOCLAW_OPENSHELL_BIN", "NEMOCLAW_FORWARD_RECORD_CHECK"} {
		if v := inv.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// stopForward stops our daemon for name and port, after proving it is
// ours. A stale record is removed; nothing else is ever signalled.
func (inv *Invocation) stopForward(ctx context.Context, name string, port int) (recovery.ForwardReport, error) {
	dir := inv.forwardDir()
	paths := portforward.PathsFor(dir, name, port)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return inv.stopUnrecorded(ctx, name, port)
	}
	lock, err := forwardLock(ctx, paths.Lock)
	if err != nil {
		return recovery.ForwardReport{Sandbox: name, Port: port}, err
	}
	defer lock.Unlock()
	r, st, haveState := inv.inspectForward(ctx, name, port, false)
	switch {
	case r.State == "running":
		if err := portforward.StopDaemon(ctx, paths, st, forwardStopGrace); err != nil {
			return r, fmt.Errorf("stopping the forward daemon: %w", err)
		}
		return recovery.ForwardReport{Sandbox: name, Port: port, State: "absent", Action: "stopped", PID: st.PID, ID: st.ID}, nil
	case r.State == "orphan":
		if err := inv.stopOrphan(ctx, name, port, r.PID); err != nil {
			return r, err
		}
		if haveState {
			portforward.RemoveStale(paths, st)
		}
		return recovery.ForwardReport{Sandbox: name, Port: port, State: "absent", Action: "stopped", PID: r.PID, ID: r.ID, Detail: r.Detail}, nil
	case haveState:
		portforward.RemoveStale(paths, st)
		r.Action = "removed-stale"
	default:
		r.Action = "none"
	}
	return r, nil
}

func (inv *Invocation) forwardSandboxCommand() *cli.Command {
	flags := func() []cli.Flag {
		return append(commonFlags(), &cli.IntFlag{Name: "port", Usage: "the port to manage (default: the sandbox's dashboard port)"})
	}
	action := func(run func(c *cli.Context, name string, sb *registry.Sandbox, port int) error) cli.ActionFunc {
		return func(c *cli.Context) error {
			name, rest, _ := sandboxArgs(c)
			if len(rest) > 0 {
				return usageErrorf("forward %s: unexpected argument %q", c.Command.Name, rest[0])
			}
			sb, err := inv.lookupSandbox(name)
			if err != nil {
				// A sandbox removed from the registry may still have a
				// daemon of ours: stop and status work from its record.
				if c.Command.Name != "start" && exitcode.Of(err) == exitcode.Failed {
					if port, ok := inv.forwardOrphanPort(c, name); ok {
						return run(c, name, nil, port)
					}
				}
				return err
			}
			port, err := inv.forwardPort(c, sb)
			if err != nil {
				return err
			}
			return run(c, name, sb, port)
		}
	}
	return &cli.Command{
		Name:  "forward",
		Usage: "manage the supervised dashboard forward (start|stop|status)",
		Action: func(c *cli.Context) error {
			return usageErrorf("forward: want start, stop or status")
		},
		Subcommands: []*cli.Command{
			{
				Name:  "start",
				Usage: "start the forward on 127.0.0.1:<port> (kept when already healthy)",
				Flags: flags(),
				Action: action(func(c *cli.Context, name string, sb *registry.Sandbox, port int) error {
					ctx := c.Context
					if d := c.Duration("timeout"); d > 0 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, d)
						defer cancel()
					}
					r, err := inv.ensureForward(ctx, name, sb, port, port)
					return inv.printForward(c, r, err)
				}),
			},
			{
				Name:  "stop",
				Usage: "stop our forward daemons for this sandbox (--port: only that one; never anything else)",
				Flags: flags(),
				Action: action(func(c *cli.Context, name string, _ *registry.Sandbox, port int) error {
					r, err := inv.stopForward(c.Context, name, port)
					if err != nil || c.IsSet("port") {
						return inv.printForward(c, r, err)
					}
					// Without --port, the sandbox's other recorded forwards
					// (a Hermes API or dashboard port) go too: after
					// `forward stop` nothing of ours serves the sandbox.
					out, oerr := inv.outputFor(c)
					if oerr != nil {
						return oerr
					}
					rep := forwardVerbReport(inv.Brand.Name, "forward stop", r, nil)
					states, _ := portforward.ListStates(inv.forwardDir())
					for _, st := range states {
						if st.Sandbox != name || st.Port == port {
							continue
						}
						other, err := inv.stopForward(c.Context, name, st.Port)
						if err != nil {
							return inv.printForward(c, other, err)
						}
						rep.Forwards = append(rep.Forwards, other)
						if other.Action == "stopped" {
							rep.Summary += fmt.Sprintf(" Its forward on port %d stopped too (pid %d).", other.Port, other.PID)
						}
					}
					return out.emit(inv, rep)
				}),
			},
			{
				Name:  "status",
				Usage: "show whether the forward is ours and healthy",
				Flags: flags(),
				Action: action(func(c *cli.Context, name string, sb *registry.Sandbox, port int) error {
					r := inv.inspectWithOpenShell(c.Context, name, sb, port, true)
					var err error
					if r.State != "healthy" {
						err = silentError{exitcode.Forward}
					}
					return inv.printForward(c, r, err)
				}),
			},
		},
	}
}

func (inv *Invocation) forwardListCommand() *cli.Command {
	return &cli.Command{
		Name:  "forward",
		Usage: "forwards on this machine (forward list)",
		Action: func(c *cli.Context) error {
			return usageErrorf("forward: want 'list', or '<name> forward start|stop|status'")
		},
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "list the forward daemons of this HOME, by record and by process",
			Flags: commonFlags(),
			Action: func(c *cli.Context) error {
				if c.Args().Len() > 0 {
					return usageErrorf("forward list: unexpected argument %q", c.Args().First())
				}
				states, errs := portforward.ListStates(inv.forwardDir())
				reports := []recovery.ForwardReport{}
				for _, st := range states {
					r, _, _ := inv.inspectForward(c.Context, st.Sandbox, st.Port, false)
					reports = append(reports, r)
				}
				reports = inv.orphanReports(c.Context, reports)
				out, err := inv.outputFor(c)
				if err != nil {
					return err
				}
				rep := &recovery.Report{SchemaVersion: recovery.SchemaVersion, Command: "forward list", Outcome: "listed",
					Steps: []recovery.Step{}, Forwards: reports, Summary: fmt.Sprintf("%d forward(s) recorded on this machine.", len(reports))}
				for _, err := range errs {
					fmt.Fprintf(inv.Stderr, "%s: %v\n", inv.Brand.Name, err)
				}
				if len(reports) == 0 {
					rep.Summary = "No forwards recorded."
				}
				return out.emit(inv, rep)
			},
		}},
	}
}

// printForward reports a start/stop/status result through the shared
// renderers, as a one-row table (the forward step), and passes the exit
// code on.
func (inv *Invocation) printForward(c *cli.Context, r recovery.ForwardReport, err error) error {
	out, oerr := inv.outputFor(c)
	if oerr != nil {
		return oerr
	}
	rep := forwardVerbReport(inv.Brand.Name, "forward "+c.Command.Name, r, err)
	return out.emit(inv, rep)
}

// forwardVerbReport words one forward verb's result.
func forwardVerbReport(cli, command string, r recovery.ForwardReport, err error) *recovery.Report {
	rep := &recovery.Report{
		SchemaVersion: recovery.SchemaVersion,
		Command:       command,
		Sandbox:       r.Sandbox,
		Outcome:       r.State,
		ExitCode:      exitcode.Of(err),
		Forwards:      []recovery.ForwardReport{r},
	}
	step := recovery.Step{Name: recovery.RowForward, Detail: r.Summary()}
	switch {
	case r.Action == "kept":
		step.Status = recovery.OK
		rep.Summary = fmt.Sprintf("Forward already running for '%s': %s (pid %d), left as is.", r.Sandbox, r.URL, r.PID)
	case (r.Action == "started" || r.Action == "replaced") && err == nil:
		verb := "started"
		if r.Action == "replaced" {
			verb = "replaced a stale forward"
		}
		step.Status = recovery.Changed
		rep.Summary = fmt.Sprintf("Forward %s for '%s': %s (pid %d).", verb, r.Sandbox, r.URL, r.PID)
	case r.Action == "stopped":
		step.Status = recovery.Changed
		rep.Summary = fmt.Sprintf("Forward for '%s' on port %d stopped (pid %d).", r.Sandbox, r.Port, r.PID)
	case r.Action == "removed-stale":
		step.Status = recovery.Changed
		rep.Summary = fmt.Sprintf("No forward of ours was running for '%s' on port %d; removed its stale record (%s).", r.Sandbox, r.Port, r.Detail)
	case r.Action == "none":
		step.Status = recovery.Skipped
		rep.Summary = fmt.Sprintf("No forward of ours is running for '%s' on port %d.", r.Sandbox, r.Port)
	case err == nil || isSilent(err):
		step.Status = recovery.OK
		if r.State != recovery.ForwardHealthy {
			step.Status = recovery.Failed
		}
		rep.Summary = fmt.Sprintf("Forward for '%s' on port %d: %s", r.Sandbox, r.Port, r.State)
		if d := r.Summary(); d != "" {
			rep.Summary += " (" + d + ")"
		}
		rep.Summary += "."
	default:
		step.Status = recovery.Failed
		rep.Summary = fmt.Sprintf("%s: %v", command, err)
		rep.Error = err.Error()
		rep.Diagnostics = &recovery.Diagnostics{FailingStep: recovery.RowForward, Reason: err.Error(), Next: hintOf(err)}
		if r.Log != "" {
			rep.Diagnostics.Log = r.Log
		}
	}
	if r.State == recovery.ForwardForeign && r.Action != "" && r.Action != "stopped" && err == nil {
		rep.Summary += fmt.Sprintf(" Port %d is held by %s; it was left running.", r.Port, r.Summary())
	}
	rep.Steps = []recovery.Step{step}
	rep.Compact()
	return rep
}

// forwardDaemonCommand is the hidden command `forward start` launches.
const forwardDaemonCommand = portforward.DaemonCommand

func (inv *Invocation) forwardDaemonCmd() *cli.Command {
	return &cli.Command{
		Name:   forwardDaemonCommand,
		Hidden: true,
		Usage:  "run the dashboard forward of one sandbox (started by 'forward start')",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "sandbox", Required: true},
			&cli.IntFlag{Name: "port", Required: true},
			&cli.StringFlag{Name: "id", Required: true},
			&cli.StringFlag{Name: "remote", Usage: "address inside the sandbox (default 127.0.0.1:<port>)"},
			&cli.IntFlag{Name: "listen-fd", Usage: "inherited listening socket (default: bind 127.0.0.1:<port>)"},
			&cli.IntFlag{Name: "ready-fd", Usage: "pipe that receives the ready line"},
			&cli.StringFlag{Name: portforward.ForwardsDirFlag, Usage: "directory of the forward's record and control socket (default ~/.nemoclaw/state/forwards)"},
		},
		Action: inv.runForwardDaemon,
	}
}

func (inv *Invocation) runForwardDaemon(c *cli.Context) error {
	name, port, id := c.String("sandbox"), c.Int("port"), c.String("id")
	remote := c.String("remote")
	if remote == "" {
		remote = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	var ready *os.File
	if fd := c.Int("ready-fd"); fd > 0 {
		ready = os.NewFile(uintptr(fd), "ready")
	}
	var rw interface {
		Write([]byte) (int, error)
		Close() error
	}
	if ready != nil {
		rw = ready
	}
	// The daemon has no terminal (own session); a stray SIGHUP from a
	// parent's session teardown must not end it.
	signal.Ignore(syscall.SIGHUP)
	logger := log.New(inv.Stderr, "", log.LstdFlags|log.LUTC)
	fail := func(err error) error {
		if rw != nil {
			code := exitcode.Of(err)
			if code == exitcode.OK {
				code = exitcode.Forward
			}
			json.NewEncoder(rw).Encode(map[string]any{"ok": false, "error": err.Error(), "exitCode": code})
			rw.Close()
		}
		logger.Printf("forward daemon: %v", err)
		return err
	}
	if err := ValidateSandboxName(name); err != nil {
		return fail(err)
	}
	sb, err := inv.lookupSandbox(name)
	if err != nil {
		return fail(err)
	}
	var l net.Listener
	if fd := c.Int("listen-fd"); fd > 0 {
		f := os.NewFile(uintptr(fd), "listener")
		l, err = net.FileListener(f)
		f.Close()
		if err != nil {
			return fail(fmt.Errorf("inherited listener: %w", err))
		}
		if a, ok := l.Addr().(*net.TCPAddr); !ok || !a.IP.Equal(net.IPv4(127, 0, 0, 1)) || a.Port != port {
			l.Close()
			return fail(fmt.Errorf("inherited listener is %s, want 127.0.0.1:%d", l.Addr(), port))
		}
	} else if l, err = portforward.Listen(port); err != nil {
		return fail(err)
	}
	every, err := forwardRecordCheck(inv.Getenv)
	if err != nil {
		l.Close()
		return fail(err)
	}
	dir := c.String(portforward.ForwardsDirFlag)
	if dir == "" {
		dir = inv.forwardDir()
	}
	cfg := portforward.DaemonConfig{
		Sandbox:     name,
		Port:        port,
		Remote:      remote,
		ID:          id,
		Paths:       portforward.PathsFor(dir, name, port),
		Listener:    l,
		Connect:     inv.forwardConnector(name, sb),
		RecordCheck: every,
		Logf:        logger.Printf,
	}
	if rw != nil {
		cfg.Ready = rw
	}
	return portforward.RunDaemon(c.Context, cfg)
}

// forwardRecordCheck reads NEMOCLAW_FORWARD_RECORD_CHECK: zero (the
// default) when unset, else a positive Go duration.
func forwardRecordCheck(getenv func(string) string) (time.Duration, error) {
	v := getenv("NEMOCLAW_FORWARD_RECORD_CHECK")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, withCode(exitcode.Usage, fmt.Errorf("NEMOCLAW_FORWARD_RECORD_CHECK=%q: want a positive duration such as 10s", v), "")
	}
	return d, nil
}

// forwardConnector opens a fresh transport connection to the sandbox for
// each (re)connect: for SSH a full handshake, so the host key is verified
// again every time. An OpenShell sandbox that OpenShell reports deleted
// comes back as *sandboxexec.SandboxMissingError, whose SandboxMissing
// method makes the daemon stop reconnecting and exit.
func (inv *Invocation) forwardConnector(name string, sb *registry.Sandbox) portforward.Connector {
	return func(ctx context.Context) (portforward.Upstream, error) {
		t, err := inv.openTransport(ctx, name, sb)
		if err != nil {
			return nil, err
		}
		if _, execOnly := t.(*sandboxexec.OpenShellExecTransport); execOnly {
			// It connects, but every Dial fails: a forward through it would
			// look ready and serve nothing.
			t.Close()
			return nil, withCode(exitcode.Forward, fmt.Errorf("sandbox '%s': OpenShell gave no ssh-config, and the exec fallback cannot carry a port forward", name), "")
		}
		return t, nil
	}
}
