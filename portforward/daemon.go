package portforward

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
)

// The daemon's warm spare channels (Config.Spares, spare.go): two, so
// that a client arriving while the replacement of the one just taken is
// still opening finds the other ready (with one, 40% of the benchmark's
// back-to-back clients waited for it; two measured 2-9% lower p50). Each
// is kept unused for spareTTL: long enough for the next request of a page
// load or a click, well under the idle timeouts of HTTP servers for a
// connection that has not sent a request (Node 60 s, nginx 60 s, Apache
// 20 s).
const (
	daemonSpares = 2
	spareTTL     = 2 * time.Second
)

// readyMessage is the one line a daemon writes on its ready pipe: either
// it serves (pid), or why it could not (error, and the exit code the
// starter should use).
type readyMessage struct {
	OK       bool   `json:"ok"`
	PID      int    `json:"pid,omitempty"`
	Error    string `json:"error,omitempty"`
	ExitCode int    `json:"exitCode,omitempty"`
}

// DaemonConfig is one daemon's identity and means.
type DaemonConfig struct {
	Sandbox string
	Port    int
	Remote  string
	ID      string
	Paths   Paths
	// Listener is the bound 127.0.0.1:Port socket (inherited from the
	// starter, so there is no window in which another process could take
	// the port between the check and the bind).
	Listener net.Listener
	// Ready, when set, receives one readyMessage and is closed.
	Ready   io.WriteCloser
	Connect Connector
	// ConnectTimeout bounds the first connection; zero means 30 s.
	ConnectTimeout time.Duration
	// RecordCheck is how often a connected daemon re-reads its state
	// record to learn that it has been orphaned; zero means
	// DefaultRecordCheck.
	RecordCheck time.Duration
	Logf        func(format string, args ...any)
}

// DefaultRecordCheck is how often a daemon re-reads its own state record
// while its connection stays up. A daemon whose record was deleted (say,
// with the operator's ~/.nemoclaw) or now names another daemon can no
// longer be found, verified or stopped by `forward` commands, so it exits
// and frees the port; this bounds how long such an orphan keeps the port
// while nothing else would wake it. Reading one small file every 10 s costs
// nothing. Before every reconnect attempt the record is checked as well.
const DefaultRecordCheck = 10 * time.Second

// RetiredError is a daemon finding that its state record no longer names
// it: the file is gone, no longer holds a record, or names another forward
// id or pid. The daemon exits and frees the port rather than run on as an
// orphan.
type RetiredError struct {
	State  string // the record's path
	Reason string // e.g. "is gone"
}

func (e *RetiredError) Error() string {
	return fmt.Sprintf("state file %s %s: this forward daemon is orphaned", e.State, e.Reason)
}

// checkOwnRecord reads the record at path: a *RetiredError when it is gone
// or does not name this daemon (id and pid), nil when it does, and another
// error when it cannot be read (which proves nothing either way).
func checkOwnRecord(path, id string, pid int) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &RetiredError{State: path, Reason: "is gone"}
	}
	if err != nil {
		return fmt.Errorf("reading own state file: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return &RetiredError{State: path, Reason: "no longer holds a forward record"}
	}
	if s.ID != id || s.PID != pid {
		return &RetiredError{State: path, Reason: fmt.Sprintf("names forward id %s (pid %d), not this daemon (%s, pid %d)", s.ID, s.PID, id, pid)}
	}
	return nil
}

// watchRecord checks the daemon's record every period until ctx ends, and
// stops the daemon with the *RetiredError when it no longer names it.
func watchRecord(ctx context.Context, every time.Duration, check func() error, stop context.CancelCauseFunc, logf func(string, ...any)) {
	t := time.NewTicker(every)
	defer t.Stop()
	unreadable := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := check()
		var retired *RetiredError
		switch {
		case errors.As(err, &retired):
			logf("%v (periodic check, every %s); exiting to free the port", err, every)
			stop(err)
			return
		case err != nil && err.Error() != unreadable:
			unreadable = err.Error() // logged once until it changes
			logf("%v; still serving", err)
		case err == nil:
			unreadable = ""
		}
	}
}

// RunDaemon connects once (failing fast, with the error reported on the
// ready pipe, if the sandbox cannot be reached), opens the control socket,
// writes the state record, reports ready, and serves until ctx ends. On the
// way out it removes its own state record and control socket.
//
// It also ends by itself, freeing the port, when it is no longer wanted
// (SPEC §6, no orphans): when its state record no longer names it (checked
// before every reconnect attempt and every RecordCheck while connected;
// RunDaemon then returns nil), and when a reconnect finds the sandbox
// deleted (the Connector's error says SandboxMissing; that error is
// returned). Both are logged.
func RunDaemon(ctx context.Context, cfg DaemonConfig) error {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	report := func(m readyMessage) {
		if cfg.Ready == nil {
			return
		}
		json.NewEncoder(cfg.Ready).Encode(m)
		cfg.Ready.Close()
		cfg.Ready = nil
	}
	fail := func(err error) error {
		m := readyMessage{Error: err.Error(), ExitCode: exitcode.Forward}
		var ec exitcode.Coder
		if errors.As(err, &ec) {
			m.ExitCode = ec.ExitCode()
		}
		report(m)
		return err
	}
	defer cfg.Listener.Close()
	tuneRuntime(os.Getenv)

	timeout := cfg.ConnectTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	first, err := cfg.Connect(cctx)
	cancel()
	if err != nil {
		return fail(err) // the transport's errors name the sandbox
	}
	logf("connected to sandbox %s; forwarding %s -> %s", cfg.Sandbox, cfg.Listener.Addr(), cfg.Remote)

	started := time.Now().UTC()
	pid := os.Getpid()
	checkRecord := func() error { return checkOwnRecord(cfg.Paths.State, cfg.ID, pid) }
	var fw *Forwarder
	mem := &memoryReleaser{busy: func() bool { return fw.Counters().ActiveConnections > 0 }}
	fw = New(Config{
		Listener: cfg.Listener,
		Remote:   cfg.Remote,
		Connect:  recordCheckedConnector(cfg.Connect, checkRecord, logf),
		Initial:  first,
		Logf:     logf,
		Idle:     mem.idle,
		Spares:   daemonSpares,
		SpareTTL: spareTTL,
	})
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	status := func() Status {
		return Status{ID: cfg.ID, PID: pid, Sandbox: cfg.Sandbox, Port: cfg.Port, Remote: cfg.Remote,
			StartedAt: started, Counters: fw.Counters()}
	}
	stopControl, err := ServeControl(ctx, cfg.Paths.Control, status)
	if err != nil {
		first.Close()
		return fail(err)
	}
	defer stopControl()
	exe, err := os.Executable()
	if err != nil {
		first.Close()
		return fail(fmt.Errorf("finding own executable: %w", err))
	}
	st := State{PID: pid, Sandbox: cfg.Sandbox, Port: cfg.Port, Remote: cfg.Remote, ID: cfg.ID,
		Binary: exe, StartedAt: started, Control: cfg.Paths.Control, Log: cfg.Paths.Log}
	if err := WriteState(cfg.Paths.State, st); err != nil {
		first.Close()
		return fail(err)
	}
	defer RemoveStateIf(cfg.Paths.State, cfg.ID)
	report(readyMessage{OK: true, PID: pid})
	every := cfg.RecordCheck
	if every <= 0 {
		every = DefaultRecordCheck
	}
	logf("ready: pid %d, forward id %s; own state file checked every %s and before each reconnect", pid, cfg.ID, every)
	go watchRecord(ctx, every, checkRecord, stop, logf)
	err = fw.Run(ctx)
	var retired *RetiredError
	switch {
	case errors.As(err, &retired):
		logf("stopping: %v; port %d freed", err, cfg.Port)
		return nil
	case finalConnectError(err):
		logf("stopping: sandbox %s no longer exists: %v; port %d freed", cfg.Sandbox, err, cfg.Port)
		return err
	}
	logf("stopping: %v", err)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// recordCheckedConnector checks the daemon's record before each reconnect
// attempt: a daemon that is no longer recorded gets a *RetiredError, which
// ends the forward, instead of a new connection.
func recordCheckedConnector(connect Connector, check func() error, logf func(string, ...any)) Connector {
	return func(ctx context.Context) (Upstream, error) {
		err := check()
		var retired *RetiredError
		if errors.As(err, &retired) {
			logf("%v (checked before reconnecting); exiting to free the port", err)
			return nil, err
		}
		if err != nil {
			logf("%v; reconnecting anyway", err)
		}
		return connect(ctx)
	}
}

// StartOptions describe how to launch a daemon.
type StartOptions struct {
	Binary string   // the nemoclaw executable
	Args   []string // after the binary: the hidden command and its flags
	Env    []string
	Paths  Paths
	// Listener is bound by the starter and handed to the daemon as fd 3;
	// the daemon gets the ready pipe as fd 4.
	Listener *net.TCPListener
	// ReadyTimeout bounds the wait for the daemon's ready line; zero means
	// 45 s (the daemon's own first-connect budget is 30 s).
	ReadyTimeout time.Duration
}

// logRotateSize is the size above which a daemon log is moved to .1 when
// the next daemon for that forward starts.
const logRotateSize = 1 << 20

// Inherited descriptor numbers in the daemon (ExtraFiles start at 3).
const (
	ListenerFD = 3
	ReadyFD    = 4
)

// DaemonError is a daemon that did not become ready: its own error line,
// or the tail of its log when it died without one.
type DaemonError struct {
	Msg  string
	Code int
}

func (e *DaemonError) Error() string { return e.Msg }

// ExitCode is the daemon's (e.g. 6 for a host key problem), else 4.
func (e *DaemonError) ExitCode() int {
	if e.Code == 0 {
		return exitcode.Forward
	}
	return e.Code
}

// StartDaemon launches the daemon detached from the caller: its own session
// (no controlling terminal, so no SIGHUP when the operator's terminal goes
// away), stdin from /dev/null, stdout and stderr appended to its log. It
// returns once the daemon reports ready, with its pid. If the daemon fails
// or does not report in time, it is killed and reaped before the error is
// returned: no half-started daemon is left behind.
func StartDaemon(ctx context.Context, o StartOptions) (int, error) {
	// One previous log is kept; a log is never truncated in place.
	if fi, err := os.Stat(o.Paths.Log); err == nil && fi.Size() > logRotateSize {
		os.Rename(o.Paths.Log, o.Paths.Log+".1")
	}
	logf, err := os.OpenFile(o.Paths.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("opening forward log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- %s starting %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(o.Args, " "))
	lf, err := o.Listener.File()
	if err != nil {
		return 0, fmt.Errorf("handing the listener to the daemon: %w", err)
	}
	defer lf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()

	cmd := exec.Command(o.Binary, o.Args...)
	cmd.Env = o.Env
	cmd.Dir = "/"
	cmd.Stdin = nil // /dev/null
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.ExtraFiles = []*os.File{lf, w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return 0, fmt.Errorf("starting forward daemon: %w", err)
	}
	w.Close()
	// Reap the daemon whenever it exits while we still run, so it never
	// lingers as a zombie that looks alive.
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	kill := func() {
		cmd.Process.Kill()
		<-exited
	}

	timeout := o.ReadyTimeout
	if timeout == 0 {
		timeout = 45 * time.Second
	}
	line := make(chan []byte, 1)
	go func() {
		b, _ := bufio.NewReader(r).ReadBytes('\n')
		line <- b
	}()
	select {
	case b := <-line:
		var m readyMessage
		if len(b) == 0 || json.Unmarshal(b, &m) != nil {
			kill()
			return 0, &DaemonError{Msg: "forward daemon exited before it was ready: " + logTail(o.Paths.Log)}
		}
		if !m.OK {
			kill()
			return 0, &DaemonError{Msg: m.Error, Code: m.ExitCode}
		}
		return cmd.Process.Pid, nil
	case <-time.After(timeout):
		kill()
		return 0, &DaemonError{Msg: fmt.Sprintf("forward daemon not ready after %s: %s", timeout, logTail(o.Paths.Log))}
	case <-ctx.Done():
		kill()
		return 0, ctx.Err()
	}
}

// logTail is the last few lines of a daemon log, for error messages.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// StopDaemon stops the daemon of s after proving it is ours (Verify): TERM,
// then KILL after grace. It never signals a process it has not verified.
// The state record and control socket are removed either way once the
// daemon is gone.
func StopDaemon(ctx context.Context, paths Paths, s State, grace time.Duration) error {
	if _, err := Verify(ctx, s); err != nil {
		return err
	}
	p, err := os.FindProcess(s.PID)
	if err != nil {
		return err
	}
	p.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for processAlive(s.PID) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if processAlive(s.PID) {
		p.Signal(syscall.SIGKILL)
		for i := 0; i < 100 && processAlive(s.PID); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Until its last thread is gone it may still hold the port.
	WaitExited(ctx, s.PID, grace)
	RemoveStale(paths, s)
	return nil
}

// RemoveStale deletes the record of a daemon that is gone (or was never
// ours) and its leftover control socket, so the next start begins clean.
func RemoveStale(paths Paths, s State) {
	RemoveStateIf(paths.State, s.ID)
	if s.Control != "" && s.Control == paths.Control {
		os.Remove(s.Control)
	}
}
