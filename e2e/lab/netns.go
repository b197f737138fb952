package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// openNamespace opens /proc/PID1/ns/<kind> and only then checks that PID 1
// is still this sandbox's: if the check passes, the file opened before it
// belonged to the sandbox (a reused PID would have a different start time).
func (s *Sandbox) openNamespace(kind string) (*os.File, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", s.st.PID1, kind))
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", s.Name, ErrNotRunning)
	}
	if err := s.requireRunning(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Dial connects to addr (host:port) inside the sandbox's network namespace.
//
// setns(CLONE_NEWNET) changes only the calling OS thread, so the switch
// happens on a goroutine locked to its thread that never unlocks: when it
// returns, Go ends that thread instead of handing a thread in the wrong
// namespace to other goroutines. The socket is created on that thread and
// keeps its namespace for life, whatever thread uses it afterwards. addr
// must be an IP literal (no resolver runs in the sandbox's namespace).
func (s *Sandbox) Dial(ctx context.Context, addr string) (net.Conn, error) {
	ns, err := s.openNamespace("net")
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread, on purpose (see above).
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("entering the network namespace of sandbox %s: %w", s.Name, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// HTTPGet fetches http://addr/path inside the sandbox and returns the status
// and up to 1 MiB of the body.
func (s *Sandbox) HTTPGet(ctx context.Context, addr, path string) (int, []byte, error) {
	client := &http.Client{
		Transport: &http.Transport{
			DialContext:       func(ctx context.Context, _, a string) (net.Conn, error) { return s.Dial(ctx, a) },
			DisableKeepAlives: true,
		},
		Timeout: 10 * time.Second,
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// Relay connects stdin/stdout to the sandbox's sshd (127.0.0.1:22), keeping
// half-close: when stdin ends, the write side is shut and the reply is still
// read to its end. It is what the ssh-config's ProxyCommand runs.
func (s *Sandbox) Relay(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	c, err := s.Dial(ctx, "127.0.0.1:22")
	if err != nil {
		return fmt.Errorf("connecting to sshd in sandbox %s: %w", s.Name, err)
	}
	defer c.Close()
	go func() {
		_, _ = io.Copy(c, stdin)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	_, err = io.Copy(stdout, c)
	return err
}
