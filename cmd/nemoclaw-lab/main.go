// Command nemoclaw-lab builds local sandboxes for the demo and the
// end-to-end tests (SPEC §9): `up`, `wipe-tmp`, `kill-gateway`, `recreate`,
// `exec`, `down`, `list`, `openshell-shim`, and the hidden `proxy` that the
// generated ssh-configs run as their ProxyCommand. The work is done by
// package e2e/lab; this file is the command line.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/internal/sandboxspec"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a bad command line: exit 2.
type usageError struct{ error }

// exitStatus carries a command's own exit status (exec, the OpenShell
// double) without another message.
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The OpenShell double parses its own arguments (its flags are
	// OpenShell's, not ours): everything after our two flags is its.
	if len(args) > 1 && args[1] == "openshell-double" {
		return openShellDouble(ctx, args[2:], stdin, stdout, stderr)
	}
	app := newApp(stdin, stdout, stderr)
	argv, err := normalizeArgs(app, args)
	if err == nil {
		err = app.RunContext(ctx, argv)
	}
	var es exitStatus
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &es):
		return int(es)
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "nemoclaw-lab: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "nemoclaw-lab: %v\n", err)
		return 1
	}
}

func labDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "lab-dir", Usage: "lab state directory (default $NEMOCLAW_LAB_DIR, else ~/.nemoclaw/lab)"}
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:           "nemoclaw-lab",
		Usage:          "local sandboxes (namespaces, OpenSSH sshd, guarded gateways) for the demo and end-to-end tests",
		Reader:         stdin,
		Writer:         stdout,
		ErrWriter:      stderr,
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		Commands: []*cli.Command{
			upCommand(), wipeTmpCommand(), killGatewayCommand(), recreateCommand(),
			execCommand(), downCommand(), listCommand(), shimCommand(), proxyCommand(),
		},
	}
	for _, c := range app.Commands {
		c.OnUsageError = app.OnUsageError
	}
	return app
}

// options reads the location flags shared by every command.
func options(c *cli.Context, name string) lab.Options {
	return lab.Options{Name: name, LabDir: c.String("lab-dir")}
}

// oneName returns the single positional argument, the sandbox name.
func oneName(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", usageError{fmt.Errorf("%s needs exactly one sandbox name (got %d arguments)", c.Command.Name, c.NArg())}
	}
	name := c.Args().First()
	if err := lab.ValidateName(name); err != nil {
		return "", usageError{err}
	}
	return name, nil
}

func open(c *cli.Context) (*lab.Sandbox, error) {
	name, err := oneName(c)
	if err != nil {
		return nil, err
	}
	return lab.Open(options(c, name))
}

func upCommand() *cli.Command {
	return &cli.Command{
		Name:      "up",
		Usage:     "create, start and register a sandbox",
		ArgsUsage: "<name>",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "agent", Value: lab.AgentOpenClaw, Usage: "openclaw|hermes"},
			&cli.StringFlag{Name: "gateway", Value: lab.GatewayStub, Usage: "stub|openclaw (the real OpenClaw; needs make lab-deps)"},
			&cli.StringFlag{Name: "exec-user", Value: lab.UserSandbox, Usage: "sandbox|root: the user the registered ssh-config logs in as"},
			&cli.IntFlag{Name: "port", Value: sandboxspec.DefaultDashboardPort, Usage: "dashboard port (the gateway listens on it inside)"},
			&cli.IntFlag{Name: "api-port", Usage: "hermes: the host port its API is forwarded to (registered as hermesApiPort)"},
			&cli.BoolFlag{Name: "legacy-proxy-env", Usage: "legacy Hermes proxy-env: proxy variables, no NODE_OPTIONS guards"},
			&cli.StringFlag{Name: "entrypoint", Value: lab.EntrypointRoot, Usage: "root|nonroot: who runs the entrypoint (and owns the guard chain in /tmp)"},
			labDirFlag(),
		},
		Action: func(c *cli.Context) error {
			name, err := oneName(c)
			if err != nil {
				return err
			}
			o := options(c, name)
			o.Agent, o.Gateway, o.ExecUser = c.String("agent"), c.String("gateway"), c.String("exec-user")
			o.Port, o.LegacyProxyEnv, o.EntrypointMode = c.Int("port"), c.Bool("legacy-proxy-env"), c.String("entrypoint")
			o.APIPort = c.Int("api-port")
			if o.Gateway == lab.GatewayOpenClaw {
				fmt.Fprintf(c.App.ErrWriter, "nemoclaw-lab: starting the real OpenClaw gateway (about 1 GB; 7 s on an idle machine, over a minute on busy cores)...\n")
			}
			s, err := lab.Up(c.Context, o)
			if err != nil {
				return err
			}
			w := c.App.Writer
			fmt.Fprintf(w, "sandbox %s is up (agent %s, %s gateway, port %d, PID 1 = %d)\n", s.Name, s.Options.Agent, s.Options.Gateway, s.Options.Port, s.PID1)
			fmt.Fprintf(w, "  ssh-config: %s\n  host:       %s\n  try:        ssh -F %s %s\n", s.SSHConfig, s.Host, s.SSHConfig, s.Host)
			return nil
		},
	}
}

func wipeTmpCommand() *cli.Command {
	return &cli.Command{
		Name:      "wipe-tmp",
		Usage:     "empty the sandbox's /tmp (the CI /tmp-wipe); the host's /tmp is untouched",
		ArgsUsage: "<name>",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "kill-gateway", Usage: "kill the gateway first"}, labDirFlag()},
		Action: func(c *cli.Context) error {
			s, err := open(c)
			if err != nil {
				return err
			}
			return s.WipeTmp(c.Context, c.Bool("kill-gateway"))
		},
	}
}

func killGatewayCommand() *cli.Command {
	return &cli.Command{
		Name:      "kill-gateway",
		Usage:     "signal the sandbox's gateway processes",
		ArgsUsage: "<name>",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "TERM", Usage: "signal name or number (TERM, KILL, 9, ...)"}, labDirFlag()},
		Action: func(c *cli.Context) error {
			sig, err := parseSignal(c.String("signal"))
			if err != nil {
				return err
			}
			s, err := open(c)
			if err != nil {
				return err
			}
			return s.KillGateway(c.Context, sig)
		},
	}
}

func parseSignal(v string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(v)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, usageError{fmt.Errorf("unknown signal %q (use a name like TERM or KILL, or a number)", v)}
}

func recreateCommand() *cli.Command {
	return &cli.Command{
		Name:      "recreate",
		Usage:     "pod recreate: every process gone, fresh /tmp, only sshd (and inference.local) back, no gateway",
		ArgsUsage: "<name>",
		Flags:     []cli.Flag{labDirFlag()},
		Action: func(c *cli.Context) error {
			s, err := open(c)
			if err != nil {
				return err
			}
			return s.Recreate(c.Context)
		},
	}
}

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command inside the sandbox; exits with its status",
		ArgsUsage: "<name> -- <command> [args...]",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Value: lab.UserSandbox, Usage: "sandbox|root|gateway|<uid>"}, labDirFlag()},
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			var name string
			var argv []string
			for i, a := range args {
				if a == "--" {
					if i == 1 {
						name, argv = args[0], args[i+1:]
					}
					break
				}
			}
			if name == "" && len(args) >= 2 && args[1] != "--" {
				name, argv = args[0], args[1:]
			}
			if name == "" || len(argv) == 0 {
				return usageError{errors.New("usage: nemoclaw-lab exec <name> [--user U] -- <command> [args...]")}
			}
			if err := lab.ValidateName(name); err != nil {
				return usageError{err}
			}
			s, err := lab.Open(options(c, name))
			if err != nil {
				return err
			}
			code, err := s.Exec(c.Context, c.String("user"), argv, c.App.Reader, c.App.Writer, c.App.ErrWriter)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitStatus(code)
			}
			return nil
		},
	}
}

func downCommand() *cli.Command {
	return &cli.Command{
		Name:      "down",
		Usage:     "stop and remove a sandbox (or --all); idempotent",
		ArgsUsage: "<name> | --all",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "all", Usage: "every lab sandbox"}, labDirFlag()},
		Action: func(c *cli.Context) error {
			if c.Bool("all") {
				if c.NArg() != 0 {
					return usageError{errors.New("down takes a sandbox name or --all, not both")}
				}
				return lab.DownAll(options(c, ""))
			}
			s, err := open(c)
			if errors.Is(err, lab.ErrNotFound) {
				fmt.Fprintf(c.App.ErrWriter, "nemoclaw-lab: %v: nothing to do\n", err)
				return nil
			}
			if err != nil {
				return err
			}
			return s.Down()
		},
	}
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list lab sandboxes",
		Flags: []cli.Flag{labDirFlag()},
		Action: func(c *cli.Context) error {
			names, err := lab.List(options(c, ""))
			if err != nil {
				return err
			}
			for _, n := range names {
				s, err := lab.Open(options(c, n))
				if err != nil {
					fmt.Fprintf(c.App.Writer, "%s\t(broken: %v)\n", n, err)
					continue
				}
				fmt.Fprintf(c.App.Writer, "%s\t%s\t%s\tport %d\t%s\n", s.Name, s.Options.Agent, s.Options.Gateway, s.Options.Port, s.SSHConfig)
			}
			return nil
		},
	}
}

func shimCommand() *cli.Command {
	return &cli.Command{
		Name:      "openshell-shim",
		Usage:     "write an `openshell` TEST DOUBLE (sandbox get|list|exec|ssh-config, forward start|stop|list for lab sandboxes) into <dir>",
		ArgsUsage: "<dir>",
		Flags:     []cli.Flag{labDirFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{errors.New("usage: nemoclaw-lab openshell-shim <dir>")}
			}
			path, err := lab.WriteOpenShellShim(c.Args().First(), options(c, ""))
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, path)
			return nil
		},
	}
}

func proxyCommand() *cli.Command {
	return &cli.Command{
		Name:      "proxy",
		Hidden:    true,
		Usage:     "ProxyCommand: relay stdio to the sandbox's sshd",
		ArgsUsage: "<name>",
		Flags:     []cli.Flag{labDirFlag()},
		Action: func(c *cli.Context) error {
			s, err := open(c)
			if err != nil {
				return err
			}
			return s.Relay(c.Context, c.App.Reader, c.App.Writer)
		},
	}
}

// openShellDouble runs the OpenShell test double: [--lab-dir D] [--home H]
// [--argv-log F] then OpenShell's own arguments (logged to F first).
func openShellDouble(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var o lab.Options
	var argvLog string
	for len(args) >= 2 {
		switch args[0] {
		case "--lab-dir":
			o.LabDir = args[1]
		case "--home":
			o.Home = args[1]
		case "--argv-log":
			argvLog = args[1]
		default:
			return runOpenShellDouble(ctx, o, argvLog, args, stdin, stdout, stderr)
		}
		args = args[2:]
	}
	return runOpenShellDouble(ctx, o, argvLog, args, stdin, stdout, stderr)
}

func runOpenShellDouble(ctx context.Context, o lab.Options, argvLog string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if argvLog != "" {
		if err := lab.LogOpenShellArgv(argvLog, args); err != nil {
			fmt.Fprintf(stderr, "Error: openshell test double: %v\n", err)
			return 1
		}
	}
	return lab.OpenShellDouble(ctx, o, args, stdin, stdout, stderr)
}
