package portforward

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hang is hang protection only: no test asserts on how long anything takes.
const hang = 60 * time.Second

// directUpstream dials real TCP on the host: the forwarder's view of a
// sandbox that shares our network. done, when non-nil, reports its death.
type directUpstream struct {
	d      net.Dialer
	done   chan struct{}
	closed atomic.Bool
}

func (d *directUpstream) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.d.DialContext(ctx, network, addr)
}

func (d *directUpstream) Close() error {
	if d.closed.CompareAndSwap(false, true) && d.done != nil {
		close(d.done)
	}
	return nil
}
func (d *directUpstream) Done() <-chan struct{} { return d.done }

// replyAfterEOFServer reads each connection to EOF and only then writes
// back what it read, reversed. A forward that does not pass the client's
// half-close on never gets a reply.
func replyAfterEOFServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := io.ReadAll(c)
				if err != nil {
					return
				}
				for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
					b[i], b[j] = b[j], b[i]
				}
				c.Write(b)
			}()
		}
	}()
	return l.Addr().String()
}

// streamEchoServer echoes while reading and half-closes after EOF.
func streamEchoServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return l.Addr().String()
}

// startForwarder runs a Forwarder on a free loopback port until the test
// ends and returns it with its address.
func startForwarder(t testing.TB, cfg Config) (*Forwarder, string) {
	t.Helper()
	l, err := Listen(0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = l
	fw := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(hang):
			t.Errorf("forwarder did not stop")
		}
	})
	return fw, l.Addr().String()
}

func directConnector() Connector {
	return func(context.Context) (Upstream, error) {
		return &directUpstream{done: make(chan struct{})}, nil
	}
}

// halfCloseRoundTrip sends msg, closes the write side, and returns
// everything read back until EOF.
func halfCloseRoundTrip(t testing.TB, addr string, msg []byte) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, hang)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hang))
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatalf("close write: %v", err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the reply after half-close: %v", err)
	}
	return got
}

func reversed(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

// TestForwardHalfCloseEcho: a client that shuts down its write side still
// gets the whole reply (SPEC §6). The server answers only after EOF, so a
// copy loop that dropped the half-close would hang here.
func TestForwardHalfCloseEcho(t *testing.T) {
	t.Parallel()
	remote := replyAfterEOFServer(t)
	_, addr := startForwarder(t, Config{Remote: remote, Connect: directConnector(), Initial: &directUpstream{}})
	msg := make([]byte, 300<<10) // bigger than one copy buffer
	rand.Read(msg)
	got := halfCloseRoundTrip(t, addr, msg)
	if !bytes.Equal(got, reversed(msg)) {
		t.Fatalf("reply after half-close: got %d bytes, want the %d bytes reversed", len(got), len(msg))
	}
}

// concurrentChecksums opens n connections at once through addr, each
// carrying its own random payload, and checks that each gets exactly its own
// bytes back (no mixing between connections, nothing lost).
func concurrentChecksums(t *testing.T, addr string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			size := 1 + mrand.IntN(256<<10)
			msg := make([]byte, size)
			rand.Read(msg)
			want := sha256.Sum256(msg)
			c, err := net.DialTimeout("tcp", addr, hang)
			if err != nil {
				errs <- fmt.Errorf("conn %d: dial: %w", i, err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(hang))
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(msg)
				if err == nil {
					err = c.(*net.TCPConn).CloseWrite()
				}
				werr <- err
			}()
			h := sha256.New()
			nr, err := io.Copy(h, c)
			if err != nil {
				errs <- fmt.Errorf("conn %d: read: %w", i, err)
				return
			}
			if err := <-werr; err != nil {
				errs <- fmt.Errorf("conn %d: write: %w", i, err)
				return
			}
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
				errs <- fmt.Errorf("conn %d: checksum mismatch: sent %d bytes, got %d back", i, size, nr)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestForward200ConcurrentConnections: many dashboard tabs and assets at
// once must not interfere with each other.
func TestForward200ConcurrentConnections(t *testing.T) {
	t.Parallel()
	remote := streamEchoServer(t)
	fw, addr := startForwarder(t, Config{Remote: remote, Connect: directConnector(), Initial: &directUpstream{}})
	concurrentChecksums(t, addr, 200)
	if c := fw.Counters(); c.TotalConnections != 200 {
		t.Errorf("total connections = %d, want 200", c.TotalConnections)
	}
}

// TestForwardListensOnLoopbackOnly: the dashboard URL carries a token; the
// forward must not be reachable on any other address of this machine.
func TestForwardListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	l, err := Listen(0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a := l.Addr().(*net.TCPAddr)
	if !a.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("listening on %s, want 127.0.0.1 only", a)
	}
	if !conflictsWithLoopback("0100007F") {
		t.Fatalf("/proc/net/tcp decoding broken")
	}
	found := false
	for ino := range listeningInodes(a.Port) {
		_ = ino
		found = true
	}
	if !found {
		t.Fatalf("listener on port %d not visible in /proc/net/tcp", a.Port)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, ia := range addrs {
		ipn, ok := ia.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		tried++
		target := net.JoinHostPort(ipn.IP.String(), fmt.Sprint(a.Port))
		if c, err := net.DialTimeout("tcp", target, 5*time.Second); err == nil {
			c.Close()
			t.Errorf("forward port reachable on %s", target)
		}
	}
	// Another loopback address is not 127.0.0.1 either.
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.2:%d", a.Port), 5*time.Second); err == nil {
		c.Close()
		t.Errorf("forward port reachable on 127.0.0.2")
	}
	t.Logf("checked %d non-loopback addresses", tried)
}

// TestForwardBackoffBounds: every delay lies in [d/2, d] with
// d = min(Max, Initial·2^(n-1)), so the cap promised to operators holds and
// a down sandbox is never hammered.
func TestForwardBackoffBounds(t *testing.T) {
	t.Parallel()
	b := DefaultBackoff
	cases := []struct {
		name string
		rnd  float64
	}{
		{"lowest jitter gives the floor of the window", 0},
		{"highest jitter stays under the ceiling", 0.999999},
		{"a middle draw", 0.5},
	}
	for _, tc := range cases {
		ceil := b.Initial
		for n := 1; n <= 64; n++ {
			if n > 1 {
				ceil *= 2
			}
			if ceil > b.Max {
				ceil = b.Max
			}
			d := b.Delay(n, func() float64 { return tc.rnd })
			if d < ceil/2 || d > ceil {
				t.Errorf("%s: attempt %d: delay %s outside [%s, %s]", tc.name, n, d, ceil/2, ceil)
			}
			if d > b.Max {
				t.Errorf("%s: attempt %d: delay %s above the cap %s", tc.name, n, d, b.Max)
			}
		}
	}
	// Real randomness: the spread must be real too (not a constant).
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		seen[b.Delay(10, nil)] = true
	}
	if len(seen) < 2 {
		t.Errorf("jitter produced a single value over 50 draws")
	}
}

// TestForwardReconnectsAfterUpstreamDeath: when the upstream reports its
// death the listener stays bound, the forwarder connects again by itself and
// counts it, and new clients are served.
func TestForwardReconnectsAfterUpstreamDeath(t *testing.T) {
	t.Parallel()
	remote := replyAfterEOFServer(t)
	var made atomic.Int64
	var mu sync.Mutex
	var ups []*directUpstream
	connect := func(context.Context) (Upstream, error) {
		// The first two reconnect attempts fail, so backoff is exercised.
		if n := made.Add(1); n == 2 || n == 3 {
			return nil, errors.New("sandbox away")
		}
		u := &directUpstream{done: make(chan struct{})}
		mu.Lock()
		ups = append(ups, u)
		mu.Unlock()
		return u, nil
	}
	first, _ := connect(context.Background())
	fw, addr := startForwarder(t, Config{Remote: remote, Connect: connect, Initial: first,
		Backoff: Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}})
	if got := halfCloseRoundTrip(t, addr, []byte("before")); string(got) != "erofeb" {
		t.Fatalf("before: got %q", got)
	}
	first.Close() // the connection dies
	deadline := time.Now().Add(hang)
	for fw.Counters().Reconnects < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect: %+v", fw.Counters())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := halfCloseRoundTrip(t, addr, []byte("after")); string(got) != "retfa" {
		t.Fatalf("after reconnect: got %q", got)
	}
	c := fw.Counters()
	if !c.Connected || c.Reconnects != 1 || c.LastError == "" {
		t.Errorf("counters after one reconnect: %+v", c)
	}
	if made.Load() != 4 {
		t.Errorf("connect called %d times, want 4 (initial, two failures, success)", made.Load())
	}
}

// TestForwardIdleWhenLastConnectionCloses: the daemon gives memory back
// when the forward falls idle, so Idle must run each time the last open
// connection closes, and never while another one is still open.
func TestForwardIdleWhenLastConnectionCloses(t *testing.T) {
	t.Parallel()
	remote := streamEchoServer(t)
	idle := make(chan struct{}, 10)
	fw, addr := startForwarder(t, Config{Remote: remote, Connect: directConnector(), Initial: &directUpstream{},
		Idle: func() { idle <- struct{}{} }})
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", addr, hang)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(hang))
		// An echoed byte proves the connection is open end to end.
		var one [1]byte
		if _, err := c.Write([]byte{'x'}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, one[:]); err != nil {
			t.Fatal(err)
		}
		return c
	}
	waitActive := func(n int64) {
		deadline := time.Now().Add(hang)
		for fw.Counters().ActiveConnections != n {
			if time.Now().After(deadline) {
				t.Fatalf("active connections %d, want %d", fw.Counters().ActiveConnections, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	a, b := dial(), dial()
	a.Close()
	waitActive(1)
	select {
	case <-idle:
		t.Fatalf("Idle ran while a connection was still open")
	default:
	}
	b.Close()
	select {
	case <-idle:
	case <-time.After(hang):
		t.Fatalf("Idle did not run after the last connection closed")
	}
	waitActive(0)
}
