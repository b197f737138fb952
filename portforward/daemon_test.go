package portforward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// goneError is what a transport says when the sandbox's manager reports it
// deleted: it has SandboxMissing() like sandboxexec's *SandboxMissingError.
type goneError struct{ missing bool }

func (e *goneError) Error() string        { return fmt.Sprintf("sandbox gone: %v", e.missing) }
func (e *goneError) SandboxMissing() bool { return e.missing }

// portFree reports whether 127.0.0.1:port can be bound again.
func portFree(port int) bool {
	l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// A reconnect that finds the sandbox deleted ends the forward: Run returns
// that error, the listener is closed, and Connect is not called again. An
// error that merely looks similar (SandboxMissing false) is retried.
func TestForwardStopsWhenSandboxIsGone(t *testing.T) {
	t.Parallel()
	for _, missing := range []bool{true, false} {
		var calls atomic.Int64
		connect := func(context.Context) (Upstream, error) {
			calls.Add(1)
			return nil, fmt.Errorf("opening transport: %w", &goneError{missing: missing})
		}
		l, err := Listen(0)
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		first := &directUpstream{done: make(chan struct{})}
		fw := New(Config{Listener: l, Remote: "127.0.0.1:1", Connect: connect, Initial: first,
			Backoff: Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}})
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		done := make(chan error, 1)
		go func() { done <- fw.Run(ctx) }()
		first.Close() // the connection drops; supervise reconnects

		if !missing {
			// Retried, not given up: several attempts while Run goes on.
			deadline := time.Now().Add(hang)
			for calls.Load() < 3 {
				if time.Now().After(deadline) {
					t.Fatalf("a non-final error was not retried: %d calls", calls.Load())
				}
				time.Sleep(time.Millisecond)
			}
			select {
			case err := <-done:
				t.Fatalf("Run ended on a retryable error: %v", err)
			default:
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run after cancel: %v", err)
			}
			continue
		}
		var err2 error
		select {
		case err2 = <-done:
		case <-time.After(hang):
			t.Fatal("Run did not end after the sandbox was reported gone")
		}
		cancel()
		var g *goneError
		if !errors.As(err2, &g) {
			t.Errorf("Run returned %v, want the sandbox-gone error", err2)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("Connect called %d times after the sandbox was gone, want 1", n)
		}
		if !portFree(port) {
			t.Errorf("port %d still bound after the forward ended", port)
		}
		if c := fw.Counters(); !strings.Contains(c.LastError, "giving up") {
			t.Errorf("last error %q does not say it gave up", c.LastError)
		}
	}
}

// daemonRun is one in-process RunDaemon with a direct upstream; kill ends
// the current upstream (as an sshd restart would).
type daemonRun struct {
	paths Paths
	port  int
	id    string
	done  chan error
	log   *syncLog
	kill  func()
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) logf(format string, a ...any) {
	l.mu.Lock()
	fmt.Fprintf(&l.b, format+"\n", a...)
	l.mu.Unlock()
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startDaemon(t *testing.T, every time.Duration) *daemonRun {
	t.Helper()
	l, err := Listen(0)
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	d := &daemonRun{paths: PathsFor(t.TempDir(), "demo", port), port: port, id: "id-" + t.Name(),
		done: make(chan error, 1), log: &syncLog{}}
	var mu sync.Mutex
	var current *directUpstream
	connect := func(context.Context) (Upstream, error) {
		u := &directUpstream{done: make(chan struct{})}
		mu.Lock()
		current = u
		mu.Unlock()
		return u, nil
	}
	d.kill = func() {
		mu.Lock()
		current.Close()
		mu.Unlock()
	}
	ready := &readyPipe{ch: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	t.Cleanup(cancel)
	go func() {
		d.done <- RunDaemon(ctx, DaemonConfig{Sandbox: "demo", Port: port, Remote: "127.0.0.1:1", ID: d.id,
			Paths: d.paths, Listener: l, Ready: ready, Connect: connect, RecordCheck: every, Logf: d.log.logf})
	}()
	select {
	case <-ready.ch:
	case err := <-d.done:
		t.Fatalf("daemon ended before ready: %v", err)
	case <-time.After(hang):
		t.Fatal("daemon not ready")
	}
	return d
}

type readyPipe struct {
	ch   chan struct{}
	once sync.Once
}

func (r *readyPipe) Write(p []byte) (int, error) { return len(p), nil }
func (r *readyPipe) Close() error                { r.once.Do(func() { close(r.ch) }); return nil }

func (d *daemonRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-d.done:
		return err
	case <-time.After(hang):
		t.Fatalf("daemon did not exit; log:\n%s", d.log)
		return nil
	}
}

// A connected daemon whose state file is deleted notices at its periodic
// check, exits cleanly, says why, and frees the port.
func TestDaemonExitsWhenStateFileIsDeleted(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, 20*time.Millisecond)
	if _, err := os.Stat(d.paths.State); err != nil {
		t.Fatalf("no state file after ready: %v", err)
	}
	if err := os.Remove(d.paths.State); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(t); err != nil {
		t.Errorf("RunDaemon after its record was deleted: %v, want nil", err)
	}
	if log := d.log.String(); !strings.Contains(log, "is gone: this forward daemon is orphaned (periodic check") {
		t.Errorf("log does not say why it exited:\n%s", log)
	}
	if !portFree(d.port) {
		t.Errorf("port %d still bound", d.port)
	}
	if _, err := os.Stat(d.paths.Control); err == nil {
		t.Errorf("control socket left behind")
	}
}

// A daemon whose record now names another daemon finds out before its next
// reconnect (the periodic check is an hour away), exits, and leaves the
// other daemon's record and control socket alone.
func TestDaemonExitsAtReconnectWhenRecordNamesAnother(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, time.Hour)
	st, err := ReadState(d.paths.State)
	if err != nil {
		t.Fatal(err)
	}
	st.ID = "successor"
	if err := WriteState(d.paths.State, st); err != nil {
		t.Fatal(err)
	}
	// The successor's socket at the same path (it replaced ours).
	if err := os.Remove(d.paths.Control); err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	if _, err := ServeControl(sctx, d.paths.Control, func() Status { return Status{ID: "successor"} }); err != nil {
		t.Fatal(err)
	}
	d.kill() // the connection drops: the daemon checks its record first
	if err := d.wait(t); err != nil {
		t.Errorf("RunDaemon: %v, want nil", err)
	}
	if log := d.log.String(); !strings.Contains(log, "names forward id successor") || !strings.Contains(log, "checked before reconnecting") {
		t.Errorf("log does not say why it exited:\n%s", log)
	}
	if got, err := ReadState(d.paths.State); err != nil || got.ID != "successor" {
		t.Errorf("the successor's record was touched: %+v, %v", got, err)
	}
	if s, err := QueryControl(context.Background(), d.paths.Control); err != nil || s.ID != "successor" {
		t.Errorf("the successor's control socket was removed or replaced: %+v, %v", s, err)
	}
	if !portFree(d.port) {
		t.Errorf("port %d still bound", d.port)
	}
}

// A daemon that is still recorded keeps serving through its checks and
// reconnects: the checks never end a daemon its record names.
func TestDaemonKeepsRunningWhileRecorded(t *testing.T) {
	t.Parallel()
	every := 5 * time.Millisecond
	d := startDaemon(t, every)
	start := time.Now()
	deadline := start.Add(hang)
	for i := int64(1); i <= 3; i++ {
		d.kill()
		for {
			s, err := QueryControl(context.Background(), d.paths.Control)
			if err == nil && s.Reconnects >= i && s.Connected {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no reconnect %d: %+v, %v\n%s", i, s, err, d.log)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Let a few dozen periodic checks pass as well.
	for time.Since(start) < 40*every {
		time.Sleep(every)
	}
	select {
	case err := <-d.done:
		t.Fatalf("a recorded daemon exited: %v\n%s", err, d.log)
	default:
	}
	if s, err := QueryControl(context.Background(), d.paths.Control); err != nil || s.ID != d.id {
		t.Fatalf("control socket after the checks: %+v, %v", s, err)
	}
	if portFree(d.port) {
		t.Errorf("port %d was let go by a daemon that is still recorded", d.port)
	}
}
