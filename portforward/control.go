package portforward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Status is what a daemon's control socket answers: who it is (the forward
// id is the proof of ownership) and how its forward is doing.
type Status struct {
	ID        string    `json:"id"`
	PID       int       `json:"pid"`
	Sandbox   string    `json:"sandbox"`
	Port      int       `json:"port"`
	Remote    string    `json:"remote"`
	StartedAt time.Time `json:"startedAt"`
	Counters
}

// ServeControl listens on the unix socket path (mode 0600; any stale socket
// file is replaced) and answers each connection with status() as one JSON
// line, then closes it. The protocol is read-only on purpose: stopping a
// daemon is a signal to a verified pid, never a request anyone able to open
// the socket could send. Serving stops when ctx ends or stop is called
// (stop returns once the socket is closed and unlinked, so a daemon that
// calls it before exiting leaves no socket file behind). The socket file is
// removed only if it is still the one this call bound: a daemon that was
// replaced must not unlink its successor's socket at the same path.
func ServeControl(ctx context.Context, path string, status func() Status) (stop func(), err error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("replacing control socket %s: %w", path, err)
	}
	var l *net.UnixListener
	err = viaShortPath(path, func(p string) (err error) {
		l, err = net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	// Unlinked by hand: the name bound may be a /proc/self/fd alias that
	// is gone by the time the listener closes.
	l.SetUnlinkOnClose(false)
	// The directory is 0700 already; the socket is tightened too so that
	// moving it elsewhere cannot widen access.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	bound, _ := os.Stat(path)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			l.Close()
			if now, err := os.Stat(path); err == nil && bound != nil && os.SameFile(bound, now) {
				os.Remove(path)
			}
		})
	}
	context.AfterFunc(ctx, stop)
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				json.NewEncoder(c).Encode(status())
			}()
		}
	}()
	return stop, nil
}

// QueryControl asks the daemon behind the control socket at path for its
// status.
func QueryControl(ctx context.Context, path string) (Status, error) {
	var s Status
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var d net.Dialer
	var c net.Conn
	err := viaShortPath(path, func(p string) (err error) {
		c, err = d.DialContext(ctx, "unix", p)
		return err
	})
	if err != nil {
		return s, fmt.Errorf("control socket: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if err := json.NewDecoder(c).Decode(&s); err != nil {
		return s, fmt.Errorf("control socket %s: %w", path, err)
	}
	return s, nil
}

// unixPathMax is the kernel's sun_path size less the terminating NUL.
const unixPathMax = 107

// viaShortPath calls f with path, or, when path is too long for a unix
// socket address (a deep $HOME), with /proc/self/fd/<dir>/<name>, which
// the kernel resolves to the same file while the directory is open.
func viaShortPath(path string, f func(string) error) error {
	if len(path) <= unixPathMax {
		return f(path)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return f(fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path)))
}
