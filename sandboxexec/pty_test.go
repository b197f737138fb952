package sandboxexec_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// lockedBuffer is a bytes buffer safe to read while a session writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The interactive shell's terminal: a real tty of the requested size, a
// resize that reaches it, and the shell's exit status as the outcome.
func TestRunPTY(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	tr := dial(t, s.Target())
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()

	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	var out lockedBuffer
	resize := make(chan [2]int, 1)
	done := make(chan struct{})
	var got sandboxexec.Outcome
	var runErr error
	go func() {
		defer close(done)
		got, runErr = tr.RunPTY(ctx, sandboxexec.Command{Stdin: stdinR, Stdout: &out}, sandboxexec.PTY{Width: 100, Height: 30, Resize: resize})
	}()
	waitFor := func(what string) {
		t.Helper()
		for !strings.Contains(out.String(), what) {
			select {
			case <-done:
				t.Fatalf("shell ended before %q appeared: %q (%v)", what, out.String(), runErr)
			case <-ctx.Done():
				t.Fatalf("never saw %q: %q", what, out.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	io.WriteString(stdinW, "test -t 0 && echo IS-A-TTY; stty size\n")
	waitFor("IS-A-TTY")
	waitFor("30 100")
	resize <- [2]int{120, 40}
	// The resize is asynchronous: ask until the shell reports it.
	for i := 0; !strings.Contains(out.String(), "40 120"); i++ {
		if i > 200 {
			t.Fatalf("resize never reached the terminal: %q", out.String())
		}
		io.WriteString(stdinW, "stty size\n")
		time.Sleep(50 * time.Millisecond)
	}
	io.WriteString(stdinW, "exit 9\n")
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("shell did not exit")
	}
	if runErr != nil || got.Kind != sandboxexec.Exited || got.Code != 9 {
		t.Errorf("shell ended %v, %v; want exit 9", got, runErr)
	}
}
