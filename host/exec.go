package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/internal/shellquote"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// execCommand is `<name> exec -- <cmd> [args...]` (SPEC §2.2): one command
// in the sandbox over its transport, stdio passed through, and the
// command's status as ours.
func (inv *Invocation) execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run one command in the sandbox, stdin/stdout/stderr passed through",
		ArgsUsage: "-- <cmd> [args...]",
		Flags:     commonFlags(),
		Action:    inv.runExec,
	}
}

// runExec exits with:
//   - the command's own status when it exited;
//   - 128+n when it was killed by signal n (the shell's convention);
//   - 3 when it ended without a status (connection lost) or --timeout
//     expired, because then nobody knows what it did;
//   - the transport error's code (3 unreachable, 6 host key, 1 missing).
//
// The argv after `--` is quoted word by word with the payload's quoting
// function, so `exec -- sh -c 'exit 42'` runs exactly those three words
// (OpenSSH's client would join them unquoted and run `sh -c exit 42`).
func (inv *Invocation) runExec(c *cli.Context) error {
	name, rest, argv := sandboxArgs(c)
	if len(rest) > 0 || len(argv) == 0 {
		return usageErrorf("exec needs the command after --: %s %s exec -- <cmd> [args...]", inv.Brand.Name, name)
	}
	script, err := commandLine(argv)
	if err != nil {
		return err
	}
	sb, err := inv.lookupSandbox(name)
	if err != nil {
		return err
	}
	ctx := c.Context
	if d := c.Duration("timeout"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	tr, err := inv.openTransport(ctx, name, sb)
	if err != nil {
		return execTimeout(ctx, c.Duration("timeout"), err)
	}
	defer tr.Close()

	out, err := tr.Run(ctx, sandboxexec.Command{
		Script: script,
		Stdin:  inv.Stdin,
		Stdout: inv.Stdout,
		Stderr: inv.Stderr,
	})
	if err != nil {
		return execTimeout(ctx, c.Duration("timeout"), err)
	}
	switch out.Kind {
	case sandboxexec.Exited:
		if out.Code == 0 {
			return nil
		}
		return silentError{code: out.Code}
	case sandboxexec.Signaled:
		if n := out.SignalNumber(); n > 0 {
			return silentError{code: 128 + n}
		}
		return withCode(exitcode.Unreachable, fmt.Errorf("command in '%s' was killed by unknown signal %s", name, out.Signal), "")
	default:
		return withCode(exitcode.Unreachable, fmt.Errorf("command in '%s' ended without an exit status (connection lost?); its effect is unknown", name), "")
	}
}

// commandLine quotes each word for the remote shell, so the command runs
// with exactly these arguments.
func commandLine(argv []string) (string, error) {
	words := make([]string, len(argv))
	for i, a := range argv {
		if strings.ContainsRune(a, 0) {
			return "", usageErrorf("exec: argument %d contains a NUL byte, which no command can receive", i+1)
		}
		words[i] = shellquote.Quote(a)
	}
	return strings.Join(words, " "), nil
}

// execTimeout turns an expired --timeout into exit 3 with a plain message;
// other errors (including an interrupt, 130) pass unchanged.
func execTimeout(ctx context.Context, d time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && errors.Is(err, context.DeadlineExceeded) {
		return withCode(exitcode.Unreachable, fmt.Errorf("exec: --timeout %s expired: %w", d, err), "")
	}
	return err
}
