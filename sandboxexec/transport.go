// Package sandboxexec moves bytes and exit statuses between the operator's
// machine and a sandbox: SSH (golang.org/x/crypto/ssh, configured from an
// OpenSSH client config) and the OpenShell CLI. It knows nothing of gateways,
// payloads or forwards; it runs commands and dials TCP inside the sandbox.
package sandboxexec

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"golang.org/x/sys/unix"
)

// Transport runs commands in, and dials TCP addresses inside, one sandbox.
// One Transport is one connection, reused for everything a run does.
type Transport interface {
	// Run executes cmd and waits for it. A non-nil error means the command's
	// status is unknown for a reason on our side (connect, auth, cancel);
	// otherwise Outcome says how it ended, including Indeterminate.
	Run(ctx context.Context, cmd Command) (Outcome, error)
	// Dial opens a TCP connection to addr (host:port) as seen from inside
	// the sandbox.
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
	Close() error
}

// Command is one remote command. Script is handed to the remote shell as a
// command line (already quoted by the caller where needed).
type Command struct {
	Script string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Env    map[string]string
}

// OutcomeKind says how a remote command ended.
type OutcomeKind int

const (
	// Exited: the command exited with Outcome.Code.
	Exited OutcomeKind = iota
	// Signaled: the command was killed by Outcome.Signal.
	Signaled
	// Indeterminate: the channel closed without an exit status. Never success.
	Indeterminate
)

// Outcome is the end of a remote command.
type Outcome struct {
	Kind   OutcomeKind
	Code   int    // when Exited
	Signal string // when Signaled, e.g. "TERM"
}

func (o Outcome) String() string {
	switch o.Kind {
	case Exited:
		return fmt.Sprintf("exited with %d", o.Code)
	case Signaled:
		return "killed by signal " + o.Signal
	default:
		return "ended without an exit status"
	}
}

// SignalNumber is the Linux number of Signal (TERM → 15), for the shell
// convention of exiting 128+n after a signal death; 0 when the name is not
// a known signal. Sandboxes are Linux, so Linux numbering applies.
func (o Outcome) SignalNumber() int {
	if o.Kind != Signaled {
		return 0
	}
	return int(unix.SignalNum("SIG" + strings.TrimPrefix(o.Signal, "SIG")))
}
