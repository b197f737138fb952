package exitcode

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

type coded int

func (c coded) Error() string { return fmt.Sprintf("coded %d", int(c)) }
func (c coded) ExitCode() int { return int(c) }

func TestOf(t *testing.T) {
	cases := []struct {
		why  string
		err  error
		want int
	}{
		{"no error is success", nil, OK},
		{"an error without a code is a failure, never success", errors.New("x"), Failed},
		{"a code is found through wrapping", fmt.Errorf("doing x: %w", coded(HostKey)), HostKey},
		{"the outermost code wins", coded(Forward), Forward},
		{"Ctrl-C (a cancelled context) is 130 even inside a coded chain", fmt.Errorf("run: %w", context.Canceled), Interrupted},
		{"a deadline is not an interrupt", context.DeadlineExceeded, Failed},
	}
	for _, c := range cases {
		if got := Of(c.err); got != c.want {
			t.Errorf("%s: Of(%v) = %d, want %d", c.why, c.err, got, c.want)
		}
	}
}
