package host

import (
	"errors"
	"fmt"

	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
)

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
	return &exitError{code: exitcode.Usage, err: fmt.Errorf(format, args...)}
}

// hintOf returns the remediation attached to err, if any.
func hintOf(err error) string {
	var e *exitError
	if errors.As(err, &e) {
		return e.hint
	}
	return ""
}
