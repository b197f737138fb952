package portforward

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer echoes every connection until EOF and counts what it has
// accepted and what has ended. With closeIdle, a connection that sends
// nothing within closeIdle is closed by the server (an HTTP server's idle
// timeout, shortened).
type countingServer struct {
	addr            string
	accepted, ended atomic.Int64
}

func startCountingServer(t *testing.T, closeIdle time.Duration) *countingServer {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s := &countingServer{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			go func() {
				defer s.ended.Add(1)
				defer c.Close()
				if closeIdle > 0 {
					c.SetReadDeadline(time.Now().Add(closeIdle))
				}
				var first [1]byte
				n, err := c.Read(first[:])
				if err != nil {
					return
				}
				c.SetReadDeadline(time.Time{})
				c.Write(first[:n])
				io.Copy(c, c)
			}()
		}
	}()
	return s
}

// waitFor polls cond (hang protection only, nothing is timed).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echoOnce sends msg through addr, half-closes, and returns the reply.
func echoOnce(t *testing.T, addr, msg string) string {
	t.Helper()
	return string(halfCloseRoundTrip(t, addr, []byte(msg)))
}

// TestForwardSpareServesNextClient: after a client, the forward opens one
// channel ahead of demand, and the next client is carried on it (the
// server sees no new connection for that client).
func TestForwardSpareServesNextClient(t *testing.T) {
	t.Parallel()
	srv := startCountingServer(t, 0)
	_, addr := startForwarder(t, Config{Remote: srv.addr, Connect: directConnector(), Initial: &directUpstream{},
		Spare: hang})
	if got := echoOnce(t, addr, "one"); got != "one" {
		t.Fatalf("first client: %q", got)
	}
	waitFor(t, "the spare connection", func() bool { return srv.accepted.Load() == 2 })

	c, err := net.DialTimeout("tcp", addr, hang)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hang))
	if _, err := c.Write([]byte("two")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "two" {
		t.Fatalf("second client: %q, %v", got, err)
	}
	// While the second client is open no spare is opened, so the count
	// would be 3 had it dialled.
	if n := srv.accepted.Load(); n != 2 {
		t.Fatalf("server accepted %d connections, want 2 (the second client on the spare)", n)
	}
}

// TestForwardSpareClosedByServerIsNotUsed: a server that closes idle
// connections closes the spare; the next client must not inherit that
// closed connection but be served on a fresh one.
func TestForwardSpareClosedByServerIsNotUsed(t *testing.T) {
	t.Parallel()
	srv := startCountingServer(t, 20*time.Millisecond)
	_, addr := startForwarder(t, Config{Remote: srv.addr, Connect: directConnector(), Initial: &directUpstream{},
		Spare: hang})
	if got := echoOnce(t, addr, "one"); got != "one" {
		t.Fatalf("first client: %q", got)
	}
	// The spare was opened and the server has closed it.
	waitFor(t, "the server closing the idle spare", func() bool { return srv.ended.Load() == 2 })
	if got := echoOnce(t, addr, "two"); got != "two" {
		t.Fatalf("client after the spare was closed by the server: got %q, want the echo", got)
	}
}

// TestForwardSpareExpires: an unused spare is closed after Config.Spare,
// so an idle forward holds no connection to the gateway.
func TestForwardSpareExpires(t *testing.T) {
	t.Parallel()
	srv := startCountingServer(t, 0)
	_, addr := startForwarder(t, Config{Remote: srv.addr, Connect: directConnector(), Initial: &directUpstream{},
		Spare: 50 * time.Millisecond})
	if got := echoOnce(t, addr, "one"); got != "one" {
		t.Fatalf("first client: %q", got)
	}
	waitFor(t, "the spare to be opened and then closed", func() bool {
		return srv.accepted.Load() == 2 && srv.ended.Load() == 2
	})
	// After expiry the next client is served (on a new connection).
	if got := echoOnce(t, addr, "two"); got != "two" {
		t.Fatalf("client after the spare expired: %q", got)
	}
}

// closingUpstream is a directUpstream whose death closes every connection
// dialled through it, as an SSH connection's death ends its channels.
type closingUpstream struct {
	directUpstream
	mu    sync.Mutex
	conns []net.Conn
}

func (u *closingUpstream) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := u.directUpstream.Dial(ctx, network, addr)
	if err == nil {
		u.mu.Lock()
		u.conns = append(u.conns, c)
		u.mu.Unlock()
	}
	return c, err
}

func (u *closingUpstream) Close() error {
	u.mu.Lock()
	for _, c := range u.conns {
		c.Close()
	}
	u.mu.Unlock()
	return u.directUpstream.Close()
}

// TestForwardSpareDiesWithItsUpstream: a spare opened on a connection that
// then dies is never given to a client of the replacement connection.
func TestForwardSpareDiesWithItsUpstream(t *testing.T) {
	t.Parallel()
	srv := startCountingServer(t, 0)
	connect := func(context.Context) (Upstream, error) {
		return &closingUpstream{directUpstream: directUpstream{done: make(chan struct{})}}, nil
	}
	first, _ := connect(context.Background())
	fw, addr := startForwarder(t, Config{Remote: srv.addr, Connect: connect, Initial: first, Spare: hang,
		Backoff: Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}})
	if got := echoOnce(t, addr, "before"); got != "before" {
		t.Fatalf("before: %q", got)
	}
	waitFor(t, "the spare connection", func() bool { return srv.accepted.Load() == 2 })
	first.Close()
	waitFor(t, "the reconnect", func() bool { return fw.Counters().Reconnects == 1 && fw.Counters().Connected })
	if got := echoOnce(t, addr, "after"); got != "after" {
		t.Fatalf("after the upstream died: got %q, want the echo", got)
	}
}
