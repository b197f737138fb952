// Package portforward is the supervised dashboard forward of SPEC §6: a
// listener on 127.0.0.1:<port> whose connections are carried to an address
// inside the sandbox through the transport's Dial (SSH direct-tcpip), a copy
// loop that keeps half-close, reconnection with capped backoff while the
// port stays bound, and the pieces that make a detached daemon provably
// ours: its state file, its control socket, and the ownership checks.
//
// It must never bind anything but loopback, never signal a process it has
// not proven to be its own daemon, and knows nothing of payloads, gateways
// or the registry: callers hand it a Connector and an address.
package portforward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Upstream is one live connection to a sandbox that can dial inside it.
// sandboxexec.Transport satisfies it. If it also has Done() <-chan struct{}
// (and optionally Err() error), the forwarder learns of its death at once
// instead of at the next failed Dial.
type Upstream interface {
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
	Close() error
}

// Connector opens a fresh Upstream. Every call must make a new connection:
// for SSH that is a new handshake, so a reconnect re-verifies the host key.
// An error that says the sandbox is gone for good ends the forward instead
// of being retried (see finalConnectError).
type Connector func(ctx context.Context) (Upstream, error)

// Config is what a Forwarder needs.
type Config struct {
	// Listener is already bound (see Listen). The forwarder closes it when
	// Run returns.
	Listener net.Listener
	// Remote is the address dialled inside the sandbox, e.g. 127.0.0.1:18789.
	Remote string
	// Connect makes a new upstream connection when the current one dies.
	Connect Connector
	// Initial is an upstream already connected by the caller (the daemon
	// connects once before it reports ready). May be nil.
	Initial Upstream
	// Backoff is the reconnect schedule; zero means DefaultBackoff.
	Backoff Backoff
	// WaitUpstream bounds how long an accepted client waits for the
	// upstream to come back before it is closed; zero means 30 s.
	WaitUpstream time.Duration
	// DialTimeout bounds one Dial inside the sandbox; zero means 30 s.
	DialTimeout time.Duration
	// Logf records supervision events (connects, drops, errors); nil
	// discards them.
	Logf func(format string, args ...any)
	// Idle, when set, is called each time the last open client
	// connection closes.
	Idle func()
	// Spares is how many channels to Remote are kept open ahead of demand
	// for the next clients, each closed unused after SpareTTL (spare.go).
	// Zero (or a zero SpareTTL): every client dials.
	Spares   int
	SpareTTL time.Duration
}

// Forwarder accepts on a loopback listener and carries each connection to
// Remote through the current upstream, replacing the upstream when it dies.
type Forwarder struct {
	cfg Config

	mu        sync.Mutex
	up        Upstream      // nil while disconnected
	upReady   chan struct{} // closed while up != nil
	since     time.Time     // of the last connect or disconnect
	lastErr   string
	lastErrAt time.Time

	lastLogged   string
	lastLoggedAt time.Time

	kick       chan Upstream // a Dial failure that suggests up is dead
	active     atomic.Int64
	total      atomic.Int64
	reconnects atomic.Int64
	conns      sync.WaitGroup

	spareMu  sync.Mutex
	spares   []*spare // opening, or open and unused; oldest first
	stopping bool     // Run is closing: no new spares
}

// New returns a Forwarder; nothing happens until Run.
func New(cfg Config) *Forwarder {
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.WaitUpstream == 0 {
		cfg.WaitUpstream = 30 * time.Second
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Forwarder{
		cfg:     cfg,
		upReady: make(chan struct{}),
		since:   time.Now(),
		kick:    make(chan Upstream, 1),
	}
}

// Counters is the live state of a Forwarder, reported by the control socket.
type Counters struct {
	Connected         bool      `json:"connected"`
	Since             time.Time `json:"since"`
	ActiveConnections int64     `json:"activeConnections"`
	TotalConnections  int64     `json:"totalConnections"`
	Reconnects        int64     `json:"reconnects"`
	LastError         string    `json:"lastError,omitempty"`
	LastErrorAt       time.Time `json:"lastErrorAt,omitzero"`
}

// Counters returns a snapshot.
func (f *Forwarder) Counters() Counters {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Counters{
		Connected:         f.up != nil,
		Since:             f.since,
		ActiveConnections: f.active.Load(),
		TotalConnections:  f.total.Load(),
		Reconnects:        f.reconnects.Load(),
		LastError:         f.lastErr,
		LastErrorAt:       f.lastErrAt,
	}
}

// Run supervises the upstream and serves the listener until ctx ends, or
// until a reconnect fails for good (see finalConnectError). It then closes
// the listener, the upstream and every forwarded connection, and returns
// ctx's cause, or that final Connect error. An accept failure other than
// the listener being closed is returned at once.
func (f *Forwarder) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var sup sync.WaitGroup
	sup.Add(1)
	go func() {
		defer sup.Done()
		f.supervise(ctx, cancel)
	}()

	// Connections in flight are tracked so that Run returns only after all
	// of them are closed.
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	stop := context.AfterFunc(ctx, func() {
		f.cfg.Listener.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()

	var acceptErr error
	for {
		c, err := f.cfg.Listener.Accept()
		if err != nil {
			if ctx.Err() == nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				acceptErr = fmt.Errorf("accepting on %s: %w", f.cfg.Listener.Addr(), err)
			}
			break
		}
		mu.Lock()
		open[c] = struct{}{}
		mu.Unlock()
		f.conns.Add(1)
		go func() {
			defer f.conns.Done()
			f.serve(ctx, c, func(extra net.Conn) (untrack func()) {
				mu.Lock()
				defer mu.Unlock()
				if ctx.Err() != nil {
					extra.Close()
				}
				open[extra] = struct{}{}
				return func() {
					mu.Lock()
					delete(open, extra)
					mu.Unlock()
				}
			})
			mu.Lock()
			delete(open, c)
			mu.Unlock()
		}()
	}
	cancel(nil)
	f.cfg.Listener.Close()
	f.stopSpares()
	mu.Lock()
	for c := range open {
		c.Close()
	}
	mu.Unlock()
	f.conns.Wait()
	sup.Wait()
	if acceptErr != nil {
		return acceptErr
	}
	return context.Cause(ctx)
}

// serve carries one accepted client. track registers the upstream side so
// that Run can close it on shutdown.
func (f *Forwarder) serve(ctx context.Context, c net.Conn, track func(net.Conn) func()) {
	defer c.Close()
	f.active.Add(1)
	f.total.Add(1)
	defer func() {
		if f.active.Add(-1) == 0 && f.cfg.Idle != nil {
			f.cfg.Idle()
		}
	}()

	// Two tries: a Dial that fails because the upstream just died is
	// retried once on the replacement instead of dropping the client.
	var dead Upstream
	for try := 0; try < 2; try++ {
		up, err := f.waitUpstream(ctx, dead)
		if err != nil {
			f.cfg.Logf("client %s: no upstream: %v", c.RemoteAddr(), err)
			return
		}
		rc := f.takeSpare(ctx, up)
		if rc == nil {
			dctx, cancel := context.WithTimeout(ctx, f.cfg.DialTimeout)
			rc, err = up.Dial(dctx, "tcp", f.cfg.Remote)
			cancel()
		}
		if err != nil {
			f.recordErr(fmt.Errorf("dialing %s in the sandbox: %w", f.cfg.Remote, err))
			if !f.upstreamLost(up, err) {
				// Refused inside the sandbox, or slow: this client fails,
				// and the connection carrying every other client stays.
				return
			}
			dead = up
			continue
		}
		untrack := track(rc)
		if f.cfg.Spares > 0 && f.cfg.SpareTTL > 0 {
			rc = &replenishing{Conn: rc, replenish: func() { f.openSpare(ctx) }}
		}
		if err := Pipe(c, rc); err != nil {
			f.cfg.Logf("client %s: %v", c.RemoteAddr(), err)
		}
		untrack()
		return
	}
}

// upstreamLost decides whether a failed Dial means up itself is gone. A
// refusal by the sandbox's sshd or a timeout never does: closing the
// connection would cut every other client's stream for one slow open. An
// upstream that reports its own death (Done) is believed; one that cannot
// is suspected on any other error and replaced by the supervisor.
func (f *Forwarder) upstreamLost(up Upstream, err error) bool {
	if refusedInSandbox(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	if d, ok := up.(doner); ok {
		select {
		case <-d.Done():
			return true
		default:
			return false
		}
	}
	f.suspect(up)
	return true
}

// refusedInSandbox tells a remote refusal (the sshd could not connect to
// the address, or forbids forwarding) from a dead transport. Only the latter
// is a reason to reconnect.
func refusedInSandbox(err error) bool {
	var r interface{ RejectedBySandbox() bool }
	return errors.As(err, &r) && r.RejectedBySandbox()
}

// waitUpstream returns the current upstream, other than dead, waiting up
// to WaitUpstream for one while reconnecting.
func (f *Forwarder) waitUpstream(ctx context.Context, dead Upstream) (Upstream, error) {
	f.mu.Lock()
	up := f.up
	f.mu.Unlock()
	if up != nil && up != dead {
		return up, nil // the usual case, without a timer
	}
	timer := time.NewTimer(f.cfg.WaitUpstream)
	defer timer.Stop()
	for {
		f.mu.Lock()
		up, ready := f.up, f.upReady
		f.mu.Unlock()
		if up != nil && up != dead {
			return up, nil
		}
		var poll <-chan time.Time
		if up != nil {
			// The supervisor has not yet noticed that up died.
			poll = time.After(20 * time.Millisecond)
		}
		select {
		case <-ready:
		case <-poll:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, fmt.Errorf("sandbox connection not back after %s", f.cfg.WaitUpstream)
		}
	}
}

// recordErr logs err and records it as the last error. The same message
// is logged at most once a minute (a browser polling a stopped gateway
// would otherwise log a line per request).
func (f *Forwarder) recordErr(err error) {
	msg := err.Error()
	f.mu.Lock()
	repeat := msg == f.lastLogged && time.Since(f.lastLoggedAt) < time.Minute
	if !repeat {
		f.lastLogged, f.lastLoggedAt = msg, time.Now()
	}
	f.mu.Unlock()
	if !repeat {
		f.cfg.Logf("%s", msg)
	}
	f.setErr(err)
}

// setErr records err as the last error without logging it.
func (f *Forwarder) setErr(err error) {
	f.mu.Lock()
	f.lastErr = err.Error()
	f.lastErrAt = time.Now()
	f.mu.Unlock()
}

// suspect asks the supervisor to replace up, if it is still current.
func (f *Forwarder) suspect(up Upstream) {
	select {
	case f.kick <- up:
	default:
	}
}

func (f *Forwarder) setUp(up Upstream) {
	f.mu.Lock()
	f.up = up
	f.since = time.Now()
	close(f.upReady)
	f.mu.Unlock()
}

func (f *Forwarder) clearUp() {
	f.mu.Lock()
	if f.up != nil {
		f.up = nil
		f.since = time.Now()
		f.upReady = make(chan struct{})
	}
	f.mu.Unlock()
}

// finalConnectError reports a Connect error after which reconnecting
// cannot help, so the forward ends instead of retrying forever:
//   - the sandbox no longer exists: the error (or one it wraps) has a
//     SandboxMissing() bool method that returns true, as sandboxexec's
//     *SandboxMissingError does for OpenShell's NotFound. A method rather
//     than the type, so that portforward does not import sandboxexec
//     (and sandboxexec knows nothing of forwards);
//   - *RetiredError: the daemon's connector found that its state record
//     no longer names it.
func finalConnectError(err error) bool {
	var gone interface{ SandboxMissing() bool }
	var retired *RetiredError
	return errors.As(err, &gone) && gone.SandboxMissing() || errors.As(err, &retired)
}

type doner interface{ Done() <-chan struct{} }
type errer interface{ Err() error }

// supervise keeps one upstream alive: it waits for the current one to die
// (Done, or a Dial failure that is not a remote refusal), then reconnects
// following the Backoff until ctx ends. The listener is untouched the whole
// time, so the port stays ours while the sandbox is away. A Connect error
// after which reconnecting cannot help (finalConnectError) ends the
// forward: stop cancels Run with it.
func (f *Forwarder) supervise(ctx context.Context, stop context.CancelCauseFunc) {
	up := f.cfg.Initial
	attempt := 0
	everConnected := up != nil
	for {
		if up == nil {
			if attempt > 0 {
				d := f.cfg.Backoff.Delay(attempt, nil)
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			attempt++
			c, err := f.cfg.Connect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if finalConnectError(err) {
					f.recordErr(fmt.Errorf("reconnecting (attempt %d), giving up: %w", attempt, err))
					stop(err)
					return
				}
				// A sandbox that stays away would fill the log with one
				// line per attempt: the first attempts, then powers of two.
				err = fmt.Errorf("reconnecting (attempt %d): %w", attempt, err)
				if attempt <= 5 || attempt&(attempt-1) == 0 {
					f.recordErr(err)
				} else {
					f.setErr(err)
				}
				continue
			}
			up = c
			if everConnected {
				f.reconnects.Add(1)
				f.cfg.Logf("reconnected (attempt %d)", attempt)
			}
			everConnected = true
		}
		f.setUp(up)
		established := time.Now()
		var done <-chan struct{}
		if d, ok := up.(doner); ok {
			done = d.Done()
		}
		reason := f.waitDeath(ctx, up, done)
		f.clearUp()
		up.Close()
		up = nil
		if ctx.Err() != nil {
			return
		}
		f.recordErr(fmt.Errorf("sandbox connection lost: %w", reason))
		// A connection that lived longer than the backoff cap earns an
		// immediate reconnect; one that flaps keeps backing off.
		if time.Since(established) >= f.cfg.Backoff.Max {
			attempt = 0
		}
	}
}

func (f *Forwarder) waitDeath(ctx context.Context, up Upstream, done <-chan struct{}) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			if e, ok := up.(errer); ok && e.Err() != nil {
				return e.Err()
			}
			return errors.New("connection closed")
		case s := <-f.kick:
			if s == up {
				return errors.New("dial through the connection failed")
			}
		}
	}
}

// Listen binds 127.0.0.1:port, and only that: the dashboard URL carries an
// access token, and the forward must never be reachable from another
// machine. Port 0 picks a free port (tests).
func Listen(port int) (*net.TCPListener, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("invalid port %d", port)
	}
	l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		return nil, fmt.Errorf("binding 127.0.0.1:%d: %w", port, err)
	}
	return l, nil
}
