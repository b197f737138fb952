package portforward

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
)

// DaemonCommand is the hidden command name the daemon runs under; the
// ownership check looks for it in the process's command line.
const DaemonCommand = "forward-daemon"

// NotOursError says why a state record does not prove a live daemon of
// ours: the pid is gone, it is another program, or its control socket
// does not answer with the record's forward id.
type NotOursError struct {
	Reason string
}

func (e *NotOursError) Error() string { return e.Reason }

// Verify proves that the daemon described by s is alive and ours: its pid
// is a live (non-zombie) process, its command line is our binary's
// forward-daemon for s.Sandbox and s.Port with s.ID, and its control socket
// answers with the same forward id and pid. Any failure is a *NotOursError
// saying which check failed.
func Verify(ctx context.Context, s State) (Status, error) {
	var st Status
	if s.PID <= 0 {
		return st, &NotOursError{"state file has no pid"}
	}
	if !processAlive(s.PID) {
		return st, &NotOursError{fmt.Sprintf("daemon pid %d is not running", s.PID)}
	}
	if err := checkCmdline(s); err != nil {
		return st, &NotOursError{err.Error()}
	}
	st, err := QueryControl(ctx, s.Control)
	if err != nil {
		return st, &NotOursError{fmt.Sprintf("pid %d does not answer on its control socket: %v", s.PID, err)}
	}
	if st.ID != s.ID || st.PID != s.PID {
		return st, &NotOursError{fmt.Sprintf("control socket answered forward id %s (pid %d), state file says %s (pid %d)", st.ID, st.PID, s.ID, s.PID)}
	}
	return st, nil
}

// processAlive: signal 0 reaches it and it is not a zombie (a daemon killed
// while its starter still runs stays a zombie until reaped).
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state letter follows the parenthesised command name, which may
	// itself contain ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	return data[i+2] != 'Z' && data[i+2] != 'X'
}

// WaitExited waits up to timeout for pid to be gone from /proc entirely,
// not just a zombie leader: until then its threads may still hold its
// sockets. It returns at once when pid does not exist.
func WaitExited(ctx context.Context, pid int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/task", pid)); err != nil {
			return
		}
		if processAlive(pid) {
			return // a live process (pid reused): nothing to wait for
		}
		if tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)); err == nil && len(tasks) <= 1 && onlyZombie(pid, tasks) {
			return // a fully exited zombie holds nothing
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// onlyZombie: the single remaining task is the exited leader.
func onlyZombie(pid int, tasks []os.DirEntry) bool {
	if len(tasks) == 0 {
		return true
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, tasks[0].Name()))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && i+2 < len(data) && (data[i+2] == 'Z' || data[i+2] == 'X')
}

func checkCmdline(s State) error {
	args, err := ProcessArgs(s.PID)
	if err != nil {
		return fmt.Errorf("reading command line of pid %d: %w", s.PID, err)
	}
	flags := map[string]string{}
	hasCmd := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == DaemonCommand {
			hasCmd = true
			continue
		}
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok && i+1 < len(args) {
			val = args[i+1]
			i++
		}
		flags[name] = val
	}
	want := map[string]string{"sandbox": s.Sandbox, "port": strconv.Itoa(s.Port), "id": s.ID}
	if !hasCmd {
		return fmt.Errorf("pid %d is not a forward daemon (%s)", s.PID, strings.Join(args, " "))
	}
	for k, v := range want {
		if flags[k] != v {
			return fmt.Errorf("pid %d is a forward daemon for another forward (--%s %q, want %q)", s.PID, k, flags[k], v)
		}
	}
	if s.Binary != "" {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.PID))
		if err != nil {
			return fmt.Errorf("reading executable of pid %d: %w", s.PID, err)
		}
		// An upgraded binary leaves the running daemon's exe "(deleted)";
		// it is still the program that wrote the record.
		if exe != s.Binary && exe != s.Binary+" (deleted)" {
			return fmt.Errorf("pid %d runs %s, not %s", s.PID, exe, s.Binary)
		}
	}
	return nil
}

// ProcessArgs is the argv of pid from /proc.
func ProcessArgs(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	data = bytes.TrimRight(data, "\x00")
	if len(data) == 0 {
		return nil, errors.New("empty command line")
	}
	return strings.Split(string(data), "\x00"), nil
}

// ProbeHTTP sends GET / through the forward on 127.0.0.1:port and accepts
// any HTTP answer: it proves the bytes reached a server in the sandbox, and
// the dashboard's own status (200, 401, ...) is for the caller to judge.
func ProbeHTTP(ctx context.Context, port int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
	if err != nil {
		return 0, err
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		// The error text carries the URL; keep only the cause, as callers
		// may print it next to a foreign listener.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return 0, fmt.Errorf("HTTP request through the forward on port %d: %w", port, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Holder is a process holding a listening TCP socket.
type Holder struct {
	PID     int    `json:"pid,omitempty"`
	Command string `json:"command,omitempty"`
}

// ForeignListenerError: the port is held by something that is not our
// daemon. It is never stopped; the operator decides. Its message never
// contains the dashboard URL (the URL can carry an access token that the
// foreign process must not be handed).
type ForeignListenerError struct {
	Port   int
	Holder Holder // zero when /proc does not show it (another user, a namespace)
}

func (e *ForeignListenerError) Error() string {
	who := "a process not visible in /proc (another user or namespace), not a forward proven ours"
	if e.Holder.PID > 0 {
		who = fmt.Sprintf("pid %d (%s), not a forward proven ours", e.Holder.PID, e.Holder.Command)
	}
	return fmt.Sprintf("port %d on 127.0.0.1 is held by %s; it was left running", e.Port, who)
}

// ExitCode is SPEC §2.3's 4: the forward could not be established.
func (e *ForeignListenerError) ExitCode() int { return exitcode.Forward }

// PortHolder finds who listens on a TCP port that conflicts with
// 127.0.0.1:port (127.0.0.1, any-address, or v4-mapped loopback), from
// /proc/net/tcp{,6} and the socket inodes in /proc/*/fd. found is false when
// no such listener is visible; pid is 0 when the socket is visible but its
// process is not (another user or PID namespace).
func PortHolder(port int) (h Holder, found bool) {
	inodes := listeningInodes(port)
	if len(inodes) == 0 {
		return h, false
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				args, _ := ProcessArgs(pid)
				return Holder{PID: pid, Command: strings.Join(args, " ")}, true
			}
		}
	}
	return h, true
}

// listeningInodes returns the inodes of LISTEN sockets on port whose local
// address conflicts with 127.0.0.1.
func listeningInodes(port int) map[string]bool {
	out := map[string]bool{}
	// thread-self, not self: /proc/self/net is the network namespace of
	// the process's main thread, which a program that once entered
	// another namespace on a locked thread (test harnesses do) may have
	// left behind. Go never runs goroutines on a thread left in another
	// namespace, so the current thread's view is the process's own.
	for _, file := range []string{"/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			host, portHex, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			p, err := strconv.ParseUint(portHex, 16, 16)
			if err != nil || int(p) != port {
				continue
			}
			if conflictsWithLoopback(host) {
				out[fields[9]] = true
			}
		}
		f.Close()
	}
	return out
}

// conflictsWithLoopback decodes a /proc/net/tcp{,6} address (little-endian
// 32-bit words) and says whether a listener there blocks 127.0.0.1.
func conflictsWithLoopback(hexAddr string) bool {
	raw := make([]byte, len(hexAddr)/2)
	for i := range raw {
		b, err := strconv.ParseUint(hexAddr[2*i:2*i+2], 16, 8)
		if err != nil {
			return false
		}
		raw[i] = byte(b)
	}
	for i := 0; i+4 <= len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	ip := net.IP(raw)
	return ip.IsUnspecified() || ip.Equal(net.IPv4(127, 0, 0, 1))
}
