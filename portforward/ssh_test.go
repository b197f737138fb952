package portforward

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// sshConnector dials the test sshd with the real transport: every call is a
// fresh handshake against the pinned known_hosts.
func sshConnector(srv *sshdtest.Server) Connector {
	return func(ctx context.Context) (Upstream, error) {
		return sandboxexec.DialSSH(ctx, srv.Target(), sandboxexec.SSHOptions{Name: "test-sandbox"})
	}
}

// sshForwarder starts a Forwarder to remote through srv, with the spare
// channel on as in the daemon.
func sshForwarder(t testing.TB, srv *sshdtest.Server, remote string) (*Forwarder, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	first, err := sshConnector(srv)(ctx)
	if err != nil {
		t.Fatalf("connecting to sshd: %v", err)
	}
	return startForwarder(t, Config{Remote: remote, Connect: sshConnector(srv), Initial: first, Logf: t.Logf,
		Backoff: Backoff{Initial: 50 * time.Millisecond, Max: 1 * time.Second}, Spares: daemonSpares, SpareTTL: spareTTL})
}

// dashboardServer is the sandbox's dashboard stand-in: an HTTP server on
// loopback (sshd runs in the host's network namespace here).
func dashboardServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<title>OpenClaw Control</title> path=%s", r.URL.Path)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func httpGet(addr, path string) (string, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}

// TestForwardSSHReachesHTTPServer: the basic promise, through a real sshd
// and the real transport's direct-tcpip.
func TestForwardSSHReachesHTTPServer(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t)
	_, addr := sshForwarder(t, srv, dashboardServer(t))
	body, err := httpGet(addr, "/probe")
	if err != nil {
		t.Fatalf("GET through the forward: %v", err)
	}
	if body != "<title>OpenClaw Control</title> path=/probe" {
		t.Fatalf("body %q", body)
	}
}

// TestForwardSSHHalfCloseEcho: the SSH channel side must carry the EOF
// (channel CloseWrite) and the reply must come back after it.
func TestForwardSSHHalfCloseEcho(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t)
	_, addr := sshForwarder(t, srv, replyAfterEOFServer(t))
	msg := make([]byte, 1<<20)
	rand.Read(msg)
	if got := halfCloseRoundTrip(t, addr, msg); !bytes.Equal(got, reversed(msg)) {
		t.Fatalf("reply after half-close through sshd: got %d bytes, want %d reversed", len(got), len(msg))
	}
}

// TestForwardSSH200ConcurrentConnections: 200 channels multiplexed on one
// SSH connection keep their bytes apart.
func TestForwardSSH200ConcurrentConnections(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t)
	_, addr := sshForwarder(t, srv, streamEchoServer(t))
	concurrentChecksums(t, addr, 200)
}

// TestForwardSSHRecoversAfterSSHDRestart: sshd killed (every session with
// it) and started again under a live forward; the forward reconnects by
// itself, re-verifying the host key, and serves again while its port stayed
// bound the whole time.
func TestForwardSSHRecoversAfterSSHDRestart(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t)
	fw, addr := sshForwarder(t, srv, dashboardServer(t))
	if _, err := httpGet(addr, "/before"); err != nil {
		t.Fatalf("before the restart: %v", err)
	}
	srv.Kill()
	// While sshd is down the port stays ours: connecting still works (the
	// client waits for the upstream or is closed), binding does not.
	if l, err := Listen(addrPort(t, addr)); err == nil {
		l.Close()
		t.Fatalf("the forward's port was released while sshd was down")
	}
	deadline := time.Now().Add(hang)
	for fw.Counters().Connected {
		if time.Now().After(deadline) {
			t.Fatalf("the forward never noticed sshd died: %+v", fw.Counters())
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Restart()
	var lastErr error
	for {
		if time.Now().After(deadline) {
			t.Fatalf("forward did not serve again after sshd restart: %v; counters %+v", lastErr, fw.Counters())
		}
		if _, lastErr = httpGet(addr, "/after"); lastErr == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := fw.Counters()
	if c.Reconnects < 1 || !c.Connected {
		t.Errorf("after recovery: %+v, want connected with at least one reconnect", c)
	}
	if c.LastError == "" {
		t.Errorf("the lost connection left no last error")
	}
}

func addrPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(p, &n)
	return n
}
