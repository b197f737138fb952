package sandboxexec_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// hang is hang protection for one test step, never a timing assertion.
const hang = 60 * time.Second

func dial(t *testing.T, target sandboxexec.SSHTarget) *sandboxexec.SSHTransport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	tr, err := sandboxexec.DialSSH(ctx, target, sandboxexec.SSHOptions{})
	if err != nil {
		t.Fatalf("DialSSH: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func run(t *testing.T, tr sandboxexec.Transport, script string, stdin io.Reader) (sandboxexec.Outcome, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	var stdout, stderr bytes.Buffer
	out, err := tr.Run(ctx, sandboxexec.Command{Script: script, Stdin: stdin, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatalf("Run(%q): %v", script, err)
	}
	return out, stdout.String(), stderr.String()
}

// Exit statuses must pass through unchanged over one reused connection,
// including the shell's own 127; a signal death must not look like an exit.
func TestRunOutcomes(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	tr := dial(t, s.Target())
	cases := []struct {
		script string
		want   sandboxexec.Outcome
		why    string
	}{
		{"true", sandboxexec.Outcome{Kind: sandboxexec.Exited, Code: 0}, "success is 0, not just 'no error'"},
		{"false", sandboxexec.Outcome{Kind: sandboxexec.Exited, Code: 1}, "plain failure"},
		{"exit 42", sandboxexec.Outcome{Kind: sandboxexec.Exited, Code: 42}, "arbitrary status passes through"},
		{"no-such-command-nemoclaw", sandboxexec.Outcome{Kind: sandboxexec.Exited, Code: 127}, "the remote shell's command-not-found"},
		{"kill -TERM $$", sandboxexec.Outcome{Kind: sandboxexec.Signaled, Signal: "TERM"}, "a signal death is reported as a signal, not as 143"},
		{"kill -KILL $$", sandboxexec.Outcome{Kind: sandboxexec.Signaled, Signal: "KILL"}, "SIGKILL too"},
	}
	for _, c := range cases {
		got, _, _ := run(t, tr, c.script, nil)
		if got != c.want {
			t.Errorf("%s: %q ended %v, want %v", c.why, c.script, got, c.want)
		}
	}
	// And output arrives on the right stream.
	_, out, errOut := run(t, tr, "echo out; echo err >&2; id -un", nil)
	if out != "out\nroot\n" || errOut != "err\n" {
		t.Errorf("stdout %q stderr %q; want \"out\\nroot\\n\" and \"err\\n\"", out, errOut)
	}
}

// The payload travels on stdin: 1 MiB must arrive byte for byte and the
// command must see EOF after it.
func TestStdinMegabyteIntact(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	tr := dial(t, s.Target())
	payload := make([]byte, 1<<20)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	out, stdout, stderr := run(t, tr, "sha256sum", bytes.NewReader(payload))
	if out.Kind != sandboxexec.Exited || out.Code != 0 {
		t.Fatalf("sha256sum ended %v: %s", out, stderr)
	}
	if got := strings.Fields(stdout); len(got) == 0 || got[0] != hex.EncodeToString(sum[:]) {
		t.Fatalf("remote sha256 %q, want %x", stdout, sum)
	}
}

// slowWriter is a reader of output that takes its time.
type slowWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(2 * time.Millisecond)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// The last lines of stderr (the gateway log tail of a failure) must not be
// lost when the command exits while the host is still reading slowly.
func TestStderrTailSurvivesSlowReader(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	tr := dial(t, s.Target())
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	var stderr slowWriter
	script := `i=0; while [ $i -lt 3000 ]; do echo "line $i of noise to fill the window" >&2; i=$((i+1)); done; echo "THE-TAIL" >&2; exit 3`
	out, err := tr.Run(ctx, sandboxexec.Command{Script: script, Stdout: io.Discard, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	if out.Kind != sandboxexec.Exited || out.Code != 3 {
		t.Errorf("ended %v, want exit 3", out)
	}
	if got := stderr.buf.String(); !strings.HasSuffix(got, "line 2999 of noise to fill the window\nTHE-TAIL\n") {
		t.Errorf("stderr tail lost; last bytes: %q", got[max(0, len(got)-80):])
	}
}

// OpenShell's ssh-config reaches sshd through a ProxyCommand; the command's
// stdio is the connection and it must be gone after Close.
func TestProxyCommandConnection(t *testing.T) {
	t.Parallel()
	s := sshdtest.StartWith(t, sshdtest.Options{ProxyCommand: true})
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	tr, err := sandboxexec.DialSSH(ctx, s.Target(), sandboxexec.SSHOptions{})
	if err != nil {
		t.Fatalf("DialSSH via ProxyCommand: %v", err)
	}
	got, out, _ := run(t, tr, "echo via-proxy; exit 7", nil)
	if got.Code != 7 || out != "via-proxy\n" {
		t.Errorf("got %v %q, want exit 7 and via-proxy", got, out)
	}
	before := proxyProcesses(t, "TCP:"+s.Addr)
	if len(before) == 0 {
		t.Fatal("no socat ProxyCommand process found while connected")
	}
	tr.Close()
	for _, pid := range before {
		if processExists(pid) {
			t.Errorf("ProxyCommand process %d still exists after Close", pid)
		}
	}
}

// proxyProcesses lists this test binary's descendants whose command line
// contains match (a ProxyCommand's unique address), so parallel tests do
// not see each other's proxies.
func proxyProcesses(t *testing.T, match string) []int {
	t.Helper()
	var out []int
	queue := []int{os.Getpid()}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range sshdtest.Children(pid) {
			queue = append(queue, c)
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(c) + "/cmdline")
			if bytes.Contains(b, []byte(match)) {
				out = append(out, c)
			}
		}
	}
	return out
}

func processExists(pid int) bool {
	// Reaped means gone from /proc; a zombie would still be listed.
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// Host keys: an empty known_hosts and a wrong pinned key must each fail
// with *HostKeyError naming the file (and the line, for a mismatch), and
// exit code 6.
func TestHostKeyUnknownAndMismatch(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	dir := t.TempDir()

	empty := dir + "/empty_known_hosts"
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A different ed25519 key pinned for the alias, on line 2.
	other := sshdtest.Start(t)
	wrong := dir + "/wrong_known_hosts"
	line := s.Host + " " + string(marshalAuthorized(other))
	if err := os.WriteFile(wrong, []byte("# pinned by hand\n"+line), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, file, wantIn string
		unknown            bool
	}{
		{"empty known_hosts: unknown host", empty, empty, true},
		{"missing known_hosts: unknown host", dir + "/does-not-exist", dir + "/does-not-exist", true},
		{"other key pinned: mismatch at file:line", wrong, wrong + ":2", false},
	}
	for _, c := range cases {
		cfg := s.WriteClientConfig(t, "UserKnownHostsFile "+c.file)
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		_, err := sandboxexec.DialSSH(ctx, sandboxexec.SSHTarget{ConfigFile: cfg, Host: s.Host}, sandboxexec.SSHOptions{})
		cancel()
		var hk *sandboxexec.HostKeyError
		if !errors.As(err, &hk) {
			t.Errorf("%s: err = %v, want *HostKeyError", c.name, err)
			continue
		}
		if hk.Unknown() != c.unknown || !strings.Contains(hk.Error(), c.wantIn) || hk.ExitCode() != 6 {
			t.Errorf("%s: %v (unknown=%v exit=%d), want it to name %s", c.name, hk, hk.Unknown(), hk.ExitCode(), c.wantIn)
		}
	}
}

func marshalAuthorized(s *sshdtest.Server) []byte {
	b, _ := os.ReadFile(s.Dir + "/ssh_host_ed25519_key.pub")
	return b
}

// Verification is off only when the config says `StrictHostKeyChecking no`;
// "ask" and "accept-new" stay strict (no prompt, no trust on first use).
func TestStrictHostKeyCheckingNoOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	empty := t.TempDir() + "/known_hosts"
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		value string
		ok    bool
	}{
		{"no", true},
		{"off", true},
		{"ask", false},
		{"accept-new", false},
		{"yes", false},
	}
	for _, c := range cases {
		cfg := s.WriteClientConfig(t, "UserKnownHostsFile "+empty, "StrictHostKeyChecking "+c.value)
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		tr, err := sandboxexec.DialSSH(ctx, sandboxexec.SSHTarget{ConfigFile: cfg, Host: s.Host}, sandboxexec.SSHOptions{})
		cancel()
		if c.ok {
			if err != nil {
				t.Errorf("StrictHostKeyChecking %s: %v, want a connection", c.value, err)
				continue
			}
			tr.Close()
			continue
		}
		var hk *sandboxexec.HostKeyError
		if !errors.As(err, &hk) {
			t.Errorf("StrictHostKeyChecking %s: err = %v, want *HostKeyError", c.value, err)
		}
	}
}

// A peer that accepts TCP and never speaks must fail the dial (within
// ConnectTimeout, which covers the handshake) as unreachable, not hang,
// whether it is reached directly or through a ProxyCommand; a ProxyCommand
// that fails says why (its stderr), and none is left running.
func TestSilentPeerFailsWithinConnectTimeout(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	addr := sshdtest.SilentServer(t)
	_, port, _ := net.SplitHostPort(addr)
	cases := []struct {
		why    string
		lines  []string
		wantIn string
	}{
		{"direct TCP to a silent peer", []string{"Port " + port, "ConnectTimeout 2"}, "ConnectTimeout"},
		{"ProxyCommand to a silent peer", []string{"ProxyCommand socat STDIO TCP:" + addr, "ConnectTimeout 2"}, "ConnectTimeout"},
		{"ProxyCommand that fails", []string{"ProxyCommand sh -c 'echo proxy-says-no >&2; exit 9'", "ConnectTimeout 2"}, "proxy-says-no"},
	}
	for _, c := range cases {
		cfg := s.WriteClientConfig(t, c.lines...)
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		_, err := sandboxexec.DialSSH(ctx, sandboxexec.SSHTarget{ConfigFile: cfg, Host: s.Host}, sandboxexec.SSHOptions{})
		hung := ctx.Err() != nil
		cancel()
		var ue *sandboxexec.UnreachableError
		if !errors.As(err, &ue) || ue.ExitCode() != 3 {
			t.Errorf("%s: err = %v, want *UnreachableError", c.why, err)
			continue
		}
		if hung {
			t.Errorf("%s: only the hang protection stopped the dial: %v", c.why, err)
		}
		if !strings.Contains(err.Error(), c.wantIn) {
			t.Errorf("%s: error %q does not contain %q", c.why, err, c.wantIn)
		}
	}
	if left := append(proxyProcesses(t, "TCP:"+addr), proxyProcesses(t, "proxy-says-no")...); len(left) > 0 {
		t.Errorf("ProxyCommand processes left behind after failed dials: %v", left)
	}
}

// A proxy that stops forwarding (writes succeed, nothing returns) must be
// noticed by the keepalive: Done closes and Err says why.
func TestKeepaliveNoticesStoppedProxy(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	p := sshdtest.StartProxy(t, s.Addr)
	_, port, _ := net.SplitHostPort(p.Addr)
	cfg := s.WriteClientConfig(t, "Port "+port, "ServerAliveInterval 1", "ServerAliveCountMax 2")
	tr := dial(t, sandboxexec.SSHTarget{ConfigFile: cfg, Host: s.Host})
	if got, _, _ := run(t, tr, "true", nil); got.Code != 0 {
		t.Fatalf("before stopping the proxy: %v", got)
	}
	// Alive through a few keepalive rounds while the proxy forwards.
	select {
	case <-tr.Done():
		t.Fatalf("connection declared dead while healthy: %v", tr.Err())
	case <-time.After(3 * time.Second):
	}
	p.Stop()
	select {
	case <-tr.Done():
	case <-time.After(hang):
		t.Fatal("keepalive never noticed the stopped proxy")
	}
	if err := tr.Err(); err == nil || !strings.Contains(err.Error(), "keepalive") {
		t.Errorf("Err() = %v, want a keepalive failure", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	_, err := tr.Run(ctx, sandboxexec.Command{Script: "true"})
	var ue *sandboxexec.UnreachableError
	if !errors.As(err, &ue) {
		t.Errorf("Run on a dead connection: %v, want *UnreachableError", err)
	}
}

// A channel that closes without an exit status (the session's sshd killed
// mid-command) is Indeterminate, never success.
func TestChannelClosedWithoutStatusIsIndeterminate(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	tr := dial(t, s.Target())
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	r, w := io.Pipe()
	type result struct {
		out sandboxexec.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := tr.Run(ctx, sandboxexec.Command{Script: "echo started; exec sleep 300", Stdout: w, Stderr: io.Discard})
		w.Close()
		done <- result{out, err}
	}()
	buf := make([]byte, 8)
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "started\n" {
		t.Fatalf("command did not start: %q %v", buf, err)
	}
	go io.Copy(io.Discard, r)
	sessions := s.SessionPids()
	if len(sessions) == 0 {
		t.Fatal("no sshd session process")
	}
	for _, pid := range sessions {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	res := <-done
	if res.out.Kind != sandboxexec.Indeterminate {
		t.Errorf("outcome %v (err %v), want Indeterminate", res.out, res.err)
	}
}

// Cancelling the context stops the remote command (TERM) and returns ctx's
// error, so the host exits 130.
//
// The login is a non-root user: OpenSSH does not deliver `signal` requests
// to root sessions (no privilege-separated child), and sandboxes are
// entered as `sandbox`.
func TestRunCancelSignalsCommand(t *testing.T) {
	t.Parallel()
	s := sshdtest.StartWith(t, sshdtest.Options{User: "sandbox"})
	tr := dial(t, s.Target())
	marker := s.UserHome + "/terminated"
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := tr.Run(ctx, sandboxexec.Command{
			Script: "trap 'echo term > " + marker + "; exit 143' TERM; echo started; while :; do sleep 0.1; done",
			Stdout: w, Stderr: io.Discard,
		})
		w.Close()
		errc <- err
	}()
	buf := make([]byte, 8)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, r)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(hang):
		t.Fatal("Run did not return after cancel")
	}
	// The trap ran: the signal reached the command. (The host is the
	// sandbox here, so the marker is visible locally.)
	deadline := time.Now().Add(hang)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the remote command never got TERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The connection survives a cancelled command.
	if got, _, _ := run(t, tr, "exit 5", nil); got.Code != 5 {
		t.Errorf("after cancel: %v, want exit 5", got)
	}
}

// Dial reaches a listener inside the "sandbox" (this host) and reports a
// closed port as connection refused.
func TestDialInsideSandbox(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	tr := dial(t, s.Target())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c) // until the client half-closes
		c.Write(append([]byte("echo:"), b...))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	c, err := tr.Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Write([]byte("ping"))
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		t.Fatal("dialled conn cannot half-close")
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "echo:ping" {
		t.Errorf("through the tunnel: %q, want echo:ping", got)
	}

	// A port nobody listens on.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	_, err = tr.Dial(ctx, "tcp", closedAddr)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial to a closed port: %v, want connection refused", err)
	}
	// The forward must not reconnect for this: the sandbox answered.
	var r interface{ RejectedBySandbox() bool }
	if !errors.As(err, &r) || !r.RejectedBySandbox() {
		t.Errorf("Dial to a closed port: %v does not say the sandbox rejected it", err)
	}
	// A dial on a closed connection is not the sandbox's answer.
	tr.Close()
	_, err = tr.Dial(ctx, "tcp", closedAddr)
	if err == nil || (errors.As(err, &r) && r.RejectedBySandbox()) {
		t.Errorf("Dial on a closed connection: %v, want a transport error, not a rejection", err)
	}
}

// A command that exits without reading its stdin (the payload was not
// needed) ended normally: unread input is dropped, as OpenSSH does, not
// reported as a failure.
func TestUnreadStdinIsNotAnError(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	tr := dial(t, s.Target())
	for _, script := range []string{"true", "exit 4", "head -c 10 >/dev/null"} {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		out, err := tr.Run(ctx, sandboxexec.Command{Script: script, Stdin: bytes.NewReader(make([]byte, 8<<20))})
		cancel()
		if err != nil || out.Kind != sandboxexec.Exited {
			t.Errorf("%q with 8 MiB unread stdin: %v, %v; want a plain exit", script, out, err)
		}
	}
}

// afterReturn is a writer that fails the test if anything is written to it
// once the Run that owns it has returned.
type afterReturn struct {
	t        *testing.T
	returned atomic.Bool
	late     atomic.Int64
}

func (w *afterReturn) Write(p []byte) (int, error) {
	if w.returned.Load() {
		w.late.Add(int64(len(p)))
	}
	return len(p), nil
}

// A cancelled command that ignores TERM and keeps printing: once Run (or
// RunPTY) has returned, its output copies must not touch the caller's
// writers, which the caller may reuse or free (found by the race detector
// when host's tests ran in parallel).
func TestCancelledRunWritesNothingAfterReturn(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	tr := dial(t, s.Target())
	const noisy = `trap '' TERM HUP; while :; do echo out; echo err >&2; done`
	for _, pty := range []bool{false, true} {
		stdout, stderr := &afterReturn{t: t}, &afterReturn{t: t}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		cmd := sandboxexec.Command{Script: noisy, Stdout: stdout, Stderr: stderr}
		var err error
		if pty {
			_, err = tr.RunPTY(ctx, cmd, sandboxexec.PTY{})
		} else {
			_, err = tr.Run(ctx, cmd)
		}
		stdout.returned.Store(true)
		stderr.returned.Store(true)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("pty=%v: cancelled run: %v, want the context's error", pty, err)
		}
		// Give a leaked copy every chance to show itself.
		time.Sleep(500 * time.Millisecond)
		if n := stdout.late.Load() + stderr.late.Load(); n > 0 {
			t.Errorf("pty=%v: %d bytes written to the caller's writers after Run returned", pty, n)
		}
	}
}
