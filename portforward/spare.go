package portforward

import (
	"context"
	"net"
	"time"
)

// Warm spares: channels to Remote opened ahead of demand and handed to
// the next clients, so that they do not wait for a channel open (a round
// trip through sshd and its connect to the gateway: about half of a small
// request's time in the forward, by the in-process blocking profile).
//
// When: once the first chunk of a client's response has been passed on
// (or the server closed), the forward tops the spares up to
// Config.Spares. So their opens do not compete with that client's
// request, a burst of requests (a page load) keeps finding one, and a
// long-lived connection (the dashboard's WebSocket) does not hold them
// back. A client takes an open spare if there is one, else waits for the
// one opening longest rather than opening another channel.
//
// What the gateway sees: up to Config.Spares extra TCP connections, opened
// after a client's response started, that carry nothing until a client
// takes one, each closed unused after Config.SpareTTL. A client never gets
// a spare that has received anything (data or EOF) before it was taken: a
// server that speaks first or closes idle connections (an HTTP 408) makes
// the spare useless, and it is dropped and the client dials as before.
// Only a server closing the idle connection in the instant the client
// takes it would reach the client, as a closed connection.

// spare is one pre-opened channel. conn and timer are set before ready is
// closed; taken is guarded by Forwarder.spareMu.
type spare struct {
	up    Upstream
	ready chan struct{}
	conn  net.Conn // nil when the open failed
	first chan firstRead
	timer *time.Timer
	taken bool
}

// firstRead is what the spare's first Read returned.
type firstRead struct {
	data []byte
	err  error
}

// spareReadSize bounds the first read on a spare; later reads use the copy
// loop's buffers.
const spareReadSize = 4 << 10

// openSpare opens spares on the current upstream in the background until
// Config.Spares are open or opening, unless spares are off or the forward
// stops.
func (f *Forwarder) openSpare(ctx context.Context) {
	if f.cfg.Spares <= 0 || f.cfg.SpareTTL <= 0 || ctx.Err() != nil {
		return
	}
	f.mu.Lock()
	up := f.up
	f.mu.Unlock()
	if up == nil {
		return
	}
	f.spareMu.Lock()
	var opened []*spare
	for !f.stopping && len(f.spares) < f.cfg.Spares {
		s := &spare{up: up, ready: make(chan struct{}), first: make(chan firstRead, 1)}
		f.spares = append(f.spares, s)
		opened = append(opened, s)
		// Run sets stopping (under spareMu) before it waits for f.conns,
		// so this Add happens before that Wait.
		f.conns.Add(1)
	}
	f.spareMu.Unlock()
	for _, s := range opened {
		go f.runSpare(ctx, s)
	}
}

// removeSpare takes s out of reach of clients; the caller holds spareMu.
func (f *Forwarder) removeSpare(s *spare) {
	for i, x := range f.spares {
		if x == s {
			f.spares = append(f.spares[:i], f.spares[i+1:]...)
			return
		}
	}
}

func (f *Forwarder) runSpare(ctx context.Context, s *spare) {
	defer f.conns.Done()
	dctx, cancel := context.WithTimeout(ctx, f.cfg.DialTimeout)
	c, err := s.up.Dial(dctx, "tcp", f.cfg.Remote)
	cancel()
	f.spareMu.Lock()
	if err != nil || f.stopping {
		// Not recorded as an error: no client asked for this channel, and
		// the next one that does will dial and report.
		if c != nil {
			c.Close()
		}
		f.removeSpare(s)
		f.spareMu.Unlock()
		close(s.ready)
		return
	}
	s.conn = c
	s.timer = time.AfterFunc(f.cfg.SpareTTL, func() { f.dropSpare(s) })
	f.spareMu.Unlock()
	close(s.ready)

	// The first read runs now, so that a spare the server writes to or
	// closes is dropped before a client can get it. Whether a client took
	// it is decided in one critical section with taking it out of reach:
	// a client that took it gets this read's result, and no client can
	// take it once it is dropped.
	buf := make([]byte, spareReadSize)
	n, err := c.Read(buf)
	f.spareMu.Lock()
	taken := s.taken
	if !taken {
		f.removeSpare(s)
	}
	f.spareMu.Unlock()
	if !taken {
		c.Close()
		return
	}
	s.first <- firstRead{data: buf[:n], err: err}
}

// dropSpare closes s unless a client has taken it.
func (f *Forwarder) dropSpare(s *spare) {
	f.spareMu.Lock()
	if s.taken {
		f.spareMu.Unlock()
		return
	}
	f.removeSpare(s)
	f.spareMu.Unlock()
	s.conn.Close()
}

// takeSpare returns a spare as a client's upstream connection: an open
// one if there is one, else the one opening longest, waited for. Nil, and
// the client dials, when there is none, its open failed, or it was opened
// on another upstream than up.
func (f *Forwarder) takeSpare(ctx context.Context, up Upstream) net.Conn {
	f.spareMu.Lock()
	var s *spare
	for _, x := range f.spares {
		select {
		case <-x.ready:
			s = x // open: a failed one has left the list already
		default:
		}
		if s != nil {
			break
		}
	}
	if s == nil && len(f.spares) > 0 {
		s = f.spares[0]
	}
	if s != nil {
		s.taken = true
		f.removeSpare(s)
	}
	f.spareMu.Unlock()
	if s == nil {
		return nil
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		go func() {
			<-s.ready
			if s.conn != nil {
				s.conn.Close()
			}
		}()
		return nil
	}
	if s.conn == nil {
		return nil
	}
	s.timer.Stop()
	if s.up != up {
		// Opened on a connection that has since been replaced.
		s.conn.Close()
		return nil
	}
	return &primedConn{Conn: s.conn, first: s.first}
}

// stopSpares closes the spares and prevents new ones; Run calls it on its
// way out.
func (f *Forwarder) stopSpares() {
	f.spareMu.Lock()
	f.stopping = true
	spares := f.spares
	f.spares = nil
	f.spareMu.Unlock()
	// Run has cancelled the context, so an open in progress ends soon; a
	// channel that opened is closed here, which also ends its first read.
	for _, s := range spares {
		<-s.ready
		if s.conn != nil {
			s.conn.Close()
		}
	}
}

// primedConn is a spare in a client's hands: its first Read returns what
// the spare's own first read got, then reads go to the channel.
type primedConn struct {
	net.Conn
	first <-chan firstRead
	done  bool
	rest  []byte
	err   error
}

func (p *primedConn) Read(b []byte) (int, error) {
	if !p.done {
		r := <-p.first
		p.done, p.rest, p.err = true, r.data, r.err
	}
	if len(p.rest) > 0 {
		n := copy(b, p.rest)
		p.rest = p.rest[n:]
		return n, nil
	}
	if p.err != nil {
		err := p.err
		p.err = nil
		return 0, err
	}
	return p.Conn.Read(b)
}

// CloseWrite passes the half-close on (the copy loop needs it).
func (p *primedConn) CloseWrite() error {
	if cw, ok := p.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return p.Conn.Close()
}

// replenishing is a client's upstream connection that opens the next spare
// when its second Read starts: the first chunk of the response has been
// read and written on to the client by then, so the open does not delay
// it. Read is called from one goroutine only.
type replenishing struct {
	net.Conn
	reads     int
	replenish func()
}

func (r *replenishing) Read(b []byte) (int, error) {
	if r.reads++; r.reads == 2 {
		r.replenish()
	}
	return r.Conn.Read(b)
}

// CloseWrite passes the half-close on.
func (r *replenishing) CloseWrite() error {
	if cw, ok := r.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return r.Conn.Close()
}
