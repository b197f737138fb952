package host

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// connectCommand is `<name> connect` (SPEC §2.2), the action a bare name
// means: recover, then an interactive shell in the sandbox over the same
// SSH connection; the shell's exit status is the command's. With
// --probe-only it is exactly recover.
//
// Decision: the shell opens whenever the sandbox could be reached, even when
// the recovery failed (its report is printed first): a shell is what an
// operator needs to look into a failure. A connection failure (3, 6) or an
// unknown sandbox (1) ends the command without a shell.
func (inv *Invocation) connectCommand() *cli.Command {
	return &cli.Command{
		Name:  "connect",
		Usage: "recover, then an interactive shell in the sandbox (--probe-only: recover only)",
		Flags: runFlagDefs(requireInferenceFlag(),
			&cli.BoolFlag{Name: "probe-only", Usage: "recover and report, no shell (the same as recover)"}),
		Action: func(c *cli.Context) error {
			if c.Bool("probe-only") {
				return inv.runVerb(recovery.ModeRecover)(c)
			}
			if c.Bool("json") {
				return usageErrorf("connect: --json needs --probe-only (an interactive shell has no JSON form)")
			}
			name, rest, _ := sandboxArgs(c)
			if len(rest) > 0 {
				return usageErrorf("connect: unexpected argument %q", rest[0])
			}
			out, flags, err := inv.verbSetup(c)
			if err != nil {
				return err
			}
			// --timeout bounds the recovery, not the shell.
			set, stop := out.progress()
			res := inv.runSandbox(c.Context, runRequest{name: name, mode: recovery.ModeRecover, flags: flags, keepTransport: true, progress: set})
			stop()
			code := out.emit(inv, res.Report)
			if res.Transport == nil {
				return code
			}
			defer res.Transport.Close()
			return inv.shell(c.Context, name, res.Transport)
		},
	}
}

// shell runs the sandbox's login shell over tr: with a terminal (raw mode,
// window size and its changes) when stdin is one, else reading commands
// from stdin, as `ssh` does.
func (inv *Invocation) shell(ctx context.Context, name string, tr sandboxexec.Transport) error {
	ssh, ok := tr.(*sandboxexec.SSHTransport)
	if !ok {
		return withCode(exitcode.Unreachable, fmt.Errorf("sandbox '%s' is reached through `openshell sandbox exec`, which cannot carry an interactive shell", name),
			"give OpenShell an ssh-config for the sandbox, or run commands with "+inv.Brand.Name+" "+name+" exec -- <cmd>")
	}
	cmd := sandboxexec.Command{Stdin: inv.Stdin, Stdout: inv.Stdout, Stderr: inv.Stderr}
	var out sandboxexec.Outcome
	var err error
	if f, isFile := inv.Stdin.(*os.File); isFile && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		w, h, _ := term.GetSize(fd)
		state, rerr := term.MakeRaw(fd)
		if rerr != nil {
			return fmt.Errorf("putting the terminal in raw mode: %w", rerr)
		}
		defer term.Restore(fd, state)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		resize := make(chan [2]int, 1)
		go func() {
			for range winch {
				if w, h, err := term.GetSize(fd); err == nil {
					select {
					case resize <- [2]int{w, h}:
					default:
					}
				}
			}
		}()
		out, err = ssh.RunPTY(ctx, cmd, sandboxexec.PTY{Term: inv.Getenv("TERM"), Width: w, Height: h, Resize: resize})
	} else {
		out, err = ssh.Run(ctx, cmd)
	}
	if err != nil {
		return err
	}
	switch out.Kind {
	case sandboxexec.Exited:
		if out.Code == 0 {
			return nil
		}
		return silentError{out.Code}
	case sandboxexec.Signaled:
		if n := out.SignalNumber(); n > 0 {
			return silentError{128 + n}
		}
	}
	return withCode(exitcode.Unreachable, fmt.Errorf("the shell in '%s' ended without an exit status (connection lost?)", name), "")
}
