// Package exitcode is the one home of the exit codes of SPEC §2.3 and of the
// one mapping from an error to a process exit status. Scripts, cron jobs and
// CI depend on these numbers: never renumber them.
//
// Packages that fail in ways an operator must tell apart (sandboxexec,
// portforward, host/registry) give their typed errors an ExitCode method
// returning one of these constants; Of finds it with errors.As. Nothing here
// prints or decides what to do.
package exitcode

import (
	"context"
	"errors"
)

const (
	OK          = 0
	Failed      = 1 // recovery failed or was refused, or the sandbox is unknown
	Usage       = 2 // usage error, invalid name, unreadable registry
	Unreachable = 3 // transport, auth, or no result from the payload
	Forward     = 4 // gateway up, but the forward failed or the port is held by a process not ours
	Inference   = 5 // inference route broken
	HostKey     = 6 // host key unknown or mismatched
	InProgress  = 75
	Interrupted = 130
)

// Coder is implemented by errors that know which exit code they map to.
type Coder interface {
	ExitCode() int
}

// Of turns err into a process exit status: 0 for nil, 130 for an
// interrupted run (context cancelled), the code of the first Coder in err's
// chain, else 1.
func Of(err error) int {
	if err == nil {
		return OK
	}
	if errors.Is(err, context.Canceled) {
		return Interrupted
	}
	var c Coder
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	return Failed
}
