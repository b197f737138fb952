package sshdtest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// SilentServer listens on 127.0.0.1:<free port>, accepts every connection
// and never sends a byte: the peer that must not hang a client. It returns
// the address; connections and listener are closed in t.Cleanup.
func SilentServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshdtest: silent server: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			// Drain what the client sends so its writes never block; say
			// nothing back.
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// Proxy is a TCP relay to a target that can be told to stop forwarding while
// keeping its connections open: what a wedged ProxyCommand or a dead network
// path looks like to an SSH client (writes succeed, nothing comes back).
type Proxy struct {
	Addr    string
	stopped atomic.Bool
}

// StartProxy relays 127.0.0.1:<free port> to target until t.Cleanup.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshdtest: proxy: %v", err)
	}
	p := &Proxy{Addr: l.Addr().String()}
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			track(c)
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			track(u)
			go p.relay(u, c)
			go p.relay(c, u)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return p
}

// Stop makes the proxy swallow every byte in both directions from now on,
// without closing anything.
func (p *Proxy) Stop() { p.stopped.Store(true) }

func (p *Proxy) relay(dst, src net.Conn) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.stopped.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok && !p.stopped.Load() {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}
