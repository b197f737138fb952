package host

import (
	"context"
	"errors"
	"fmt"
)

// Exit codes of SPEC §2.3. Scripts depend on them; never renumber.
const (
	ExitOK          = 0
	ExitFailed      = 1 // recovery failed or refused, or sandbox unknown
	ExitUsage       = 2 // usage error, invalid name, unreadable registry
	ExitUnreachable = 3 // transport, auth, or no result from the payload
	ExitForward     = 4 // gateway up but forward failed / port held by a foreign process
	ExitInference   = 5 // inference route broken
	ExitHostKey     = 6 // host key unknown or mismatched
	ExitInProgress  = 75
	ExitInterrupted = 130
)

// ExitCoder is implemented by errors that know which exit code they map to.
// Packages below host (sandboxexec, portforward) implement it on their typed
// errors so that the single mapping in exitCode stays small.
type ExitCoder interface {
	ExitCode() int
}

// exitError carries an explicit exit code and an optional remediation hint
// shown to the operator.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// withCode wraps err so that it exits with code; hint, when non-empty, is
// printed under the error as the next step.
func withCode(code int, err error, hint string) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err, hint: hint}
}

// usageErrorf reports a command-line mistake (exit 2).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// exitCode is the one place that turns an error into a process exit status.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	var ec ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return ExitFailed
}

// hintOf returns the remediation attached to err, if any.
func hintOf(err error) string {
	var e *exitError
	if errors.As(err, &e) {
		return e.hint
	}
	return ""
}
