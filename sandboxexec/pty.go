package sandboxexec

import (
	"context"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// PTY asks for a pseudo-terminal for a command: what `<name> connect`'s
// interactive shell needs (SPEC §2.2), over the same connection as the
// rest of the run. Putting the local terminal in raw mode is the caller's
// job; this side only carries the size and the bytes.
type PTY struct {
	Term          string // $TERM to announce; "xterm-256color" when empty
	Width, Height int    // columns and rows; 80x24 when zero
	// Resize, when non-nil, delivers new [columns, rows] sizes (from
	// SIGWINCH) until the command ends.
	Resize <-chan [2]int
}

// RunPTY is Run with a pseudo-terminal; an empty Script starts the login
// shell. Stdout and stderr arrive merged on Stdout, as on any terminal.
// The outcome is the shell's status, like `ssh -t`.
func (t *SSHTransport) RunPTY(ctx context.Context, cmd Command, pty PTY) (Outcome, error) {
	sess, out, err := t.newSession(cmd)
	if err != nil {
		return Outcome{Kind: Indeterminate}, err
	}
	defer sess.Close()
	defer out.shut()
	term, w, h := pty.Term, pty.Width, pty.Height
	if term == "" {
		term = "xterm-256color"
	}
	if w <= 0 || h <= 0 {
		w, h = 80, 24
	}
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	if err := sess.RequestPty(term, h, w, modes); err != nil {
		return Outcome{Kind: Indeterminate}, &UnreachableError{Host: t.name, Op: "request a terminal on", Err: err}
	}
	if err := feedStdin(sess, cmd.Stdin); err != nil {
		return Outcome{Kind: Indeterminate}, &UnreachableError{Host: t.name, Op: "open stdin on", Err: err}
	}
	if cmd.Script == "" {
		err = sess.Shell()
	} else {
		err = sess.Start(cmd.Script)
	}
	if err != nil {
		return Outcome{Kind: Indeterminate}, &UnreachableError{Host: t.name, Op: "start a shell on", Err: err}
	}
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	for {
		select {
		case err := <-waited:
			return outcomeOf(err)
		case size, ok := <-pty.Resize:
			if !ok {
				pty.Resize = nil
				continue
			}
			_ = sess.WindowChange(size[1], size[0])
		case <-ctx.Done():
			_ = sess.Signal(ssh.SIGHUP) // a terminal that goes away hangs up
			return Outcome{Kind: Indeterminate}, fmt.Errorf("shell on %s: %w", t.name, abandon(ctx, sess, waited))
		}
	}
}
