package portforward

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Finding daemons by process (SPEC §6, no orphans): a daemon whose record
// was deleted or overwritten should exit by itself (RunDaemon), but one
// that has not yet noticed, or was started by a nemoclaw without that
// check, still holds its port. `forward list` finds such orphans by
// scanning /proc, and `forward stop` ends them, after the proof below.

// ForwardsDirFlag is the daemon flag naming the forwards directory whose
// records and control sockets the daemon uses. It puts the daemon's scope
// in its command line, where a process scan can read it: on one machine
// the same user may run daemons for several HOMEs.
const ForwardsDirFlag = "forwards-dir"

// DaemonMatch says which processes can be forward daemons of ours.
type DaemonMatch struct {
	// Dir is the forwards directory (~/.nemoclaw/state/forwards) the
	// daemon must name with --forwards-dir.
	Dir string
	// Programs are the base names our daemons' executables may have
	// (nemoclaw, nemohermes, or the configured daemon binary's).
	Programs []string
}

// DaemonProcess is a forward daemon of ours found by its process.
type DaemonProcess struct {
	PID     int    `json:"pid"`
	Sandbox string `json:"sandbox"`
	Port    int    `json:"port"`
	ID      string `json:"id"`
	Command string `json:"command"`
}

// daemonArgs are the flags of a forward-daemon command line.
type daemonArgs struct {
	sandbox, id, dir string
	port             int
}

// parseDaemonArgs reads argv as a forward daemon's command line, strictly:
// an absolute program path, then DaemonCommand, then only --flag value or
// --flag=value pairs, with --sandbox, --port, --id and --forwards-dir each
// given exactly once. Anything else is not one of our daemons.
func parseDaemonArgs(argv []string) (daemonArgs, error) {
	var a daemonArgs
	if len(argv) < 2 || !filepath.IsAbs(argv[0]) || argv[1] != DaemonCommand {
		return a, errors.New("not a forward-daemon command line")
	}
	seen := map[string]string{}
	for i := 2; i < len(argv); i++ {
		name, ok := strings.CutPrefix(argv[i], "--")
		if !ok || name == "" {
			return a, fmt.Errorf("unexpected argument %q", argv[i])
		}
		name, val, inline := strings.Cut(name, "=")
		if !inline {
			if i+1 >= len(argv) {
				return a, fmt.Errorf("--%s has no value", name)
			}
			i++
			val = argv[i]
		}
		if _, dup := seen[name]; dup {
			return a, fmt.Errorf("--%s given twice", name)
		}
		seen[name] = val
	}
	a.sandbox, a.id, a.dir = seen["sandbox"], seen["id"], seen[ForwardsDirFlag]
	port, err := strconv.Atoi(seen["port"])
	if err != nil || port < 1 || port > 65535 || a.sandbox == "" || a.id == "" || a.dir == "" {
		return a, errors.New("--sandbox, --port, --id or --" + ForwardsDirFlag + " missing or invalid")
	}
	a.port = port
	return a, nil
}

// ProveDaemonProcess proves that pid is a forward daemon of ours for
// sandbox and port, from the process itself (no state record needed).
// Every one of these must hold, else a *NotOursError says which did not:
//
//  1. pid is a live process other than this one, not a zombie, whose real
//     and effective uids are ours (another user's daemons are never ours).
//  2. Its argv is exactly our daemon's: an absolute program path, then
//     forward-daemon, then flags only, with --sandbox <sandbox>, --port
//     <port>, a non-empty --id, and --forwards-dir <m.Dir> each exactly
//     once (a daemon of another HOME, sandbox or port is not this one).
//  3. It is the program its argv names, and that is one of ours:
//     /proc/pid/exe is argv[0] (the same file, or argv[0] marked
//     "(deleted)" after an upgrade), and argv[0]'s base name is one of
//     m.Programs. A process that merely carries our words in its argv
//     (an editor, a grep, a wrapper script) fails here or at 2.
//  4. It holds the listening socket on 127.0.0.1:<port> (our daemons
//     always do while they run), so what is stopped is what holds the
//     port.
//  5. The control socket at m.Dir's path for sandbox and port, if one
//     accepts a connection, answers with the argv's forward id and this
//     pid. A socket that is gone or refuses proves nothing either way (an
//     orphan's directory may have been deleted); one that answers anything
//     else disproves.
//
// Use StopDaemonProcess to signal it: that closes the window in which the
// pid could be reused between the proof and the signal.
func ProveDaemonProcess(ctx context.Context, pid int, m DaemonMatch, sandbox string, port int) (DaemonProcess, error) {
	d := DaemonProcess{PID: pid, Sandbox: sandbox, Port: port}
	notOurs := func(format string, a ...any) (DaemonProcess, error) {
		return d, &NotOursError{fmt.Sprintf("pid %d: ", pid) + fmt.Sprintf(format, a...)}
	}
	if pid <= 0 || pid == os.Getpid() {
		return notOurs("not a daemon process")
	}
	if !processAlive(pid) {
		return notOurs("not running")
	}
	if err := ownedByUs(pid); err != nil {
		return notOurs("%v", err)
	}
	argv, err := ProcessArgs(pid)
	if err != nil {
		return notOurs("reading its command line: %v", err)
	}
	d.Command = strings.Join(argv, " ")
	a, err := parseDaemonArgs(argv)
	if err != nil {
		return notOurs("not a forward daemon: %v", err)
	}
	d.ID = a.id
	switch {
	case filepath.Clean(a.dir) != filepath.Clean(m.Dir):
		return notOurs("a forward daemon for %s, not %s", a.dir, m.Dir)
	case a.sandbox != sandbox || a.port != port:
		return notOurs("a forward daemon for sandbox '%s' port %d, not '%s' port %d", a.sandbox, a.port, sandbox, port)
	}
	if err := runsItsArgv0(pid, argv[0], m.Programs); err != nil {
		return notOurs("%v", err)
	}
	if !holdsListener(pid, port) {
		return notOurs("does not hold the listener on 127.0.0.1:%d", port)
	}
	ctrl := PathsFor(m.Dir, sandbox, port).Control
	if st, err := QueryControl(ctx, ctrl); err == nil {
		if st.ID != a.id || st.PID != pid {
			return notOurs("control socket %s answers forward id %s (pid %d), its command line says %s", ctrl, st.ID, st.PID, a.id)
		}
	} else if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED) {
		return notOurs("control socket %s does not answer: %v", ctrl, err)
	}
	return d, nil
}

// ownedByUs: the process's real and effective uids are ours.
func ownedByUs(pid int) error {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(v)
			if len(f) >= 2 && f[0] == strconv.Itoa(os.Getuid()) && f[1] == strconv.Itoa(os.Geteuid()) {
				return nil
			}
			return fmt.Errorf("runs as uid %s, not %d", strings.Join(f, "/"), os.Geteuid())
		}
	}
	return errors.New("no Uid line in its status")
}

// runsItsArgv0: /proc/pid/exe is argv0, and argv0 is one of our programs.
func runsItsArgv0(pid int, argv0 string, programs []string) error {
	if !slices.Contains(programs, filepath.Base(argv0)) {
		return fmt.Errorf("runs %s, not one of %s", argv0, strings.Join(programs, ", "))
	}
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	link, err := os.Readlink(exe)
	if err != nil {
		return fmt.Errorf("reading its executable: %w", err)
	}
	if link == argv0 || link == argv0+" (deleted)" {
		return nil
	}
	a, errA := os.Stat(argv0)
	b, errB := os.Stat(exe)
	if errA == nil && errB == nil && os.SameFile(a, b) {
		return nil // argv0 is a symlink or hard link to it
	}
	return fmt.Errorf("its executable is %s, not %s", link, argv0)
}

// holdsListener: one of pid's descriptors is a LISTEN socket that
// conflicts with 127.0.0.1:port.
func holdsListener(pid, port int) bool {
	inodes := listeningInodes(port)
	if len(inodes) == 0 {
		return false
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
			return true
		}
	}
	return false
}

// FindDaemonProcesses scans /proc for forward daemons of m (any sandbox and
// port), each proven as ProveDaemonProcess proves it, sorted by sandbox
// and port. Processes that fail the proof are left out.
func FindDaemonProcesses(ctx context.Context, m DaemonMatch) []DaemonProcess {
	entries, _ := os.ReadDir("/proc")
	var out []DaemonProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		argv, err := ProcessArgs(pid)
		if err != nil {
			continue
		}
		a, err := parseDaemonArgs(argv)
		if err != nil || filepath.Clean(a.dir) != filepath.Clean(m.Dir) {
			continue
		}
		if d, err := ProveDaemonProcess(ctx, pid, m, a.sandbox, a.port); err == nil {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Sandbox != out[j].Sandbox {
			return out[i].Sandbox < out[j].Sandbox
		}
		return out[i].Port < out[j].Port
	})
	return out
}

// StopDaemonProcess ends the forward daemon pid for sandbox and port after
// ProveDaemonProcess has proven it ours: SIGTERM, then SIGKILL after
// grace. The process is held by a pidfd opened before the proof and
// signalled through it, so a pid that was reused after the proof (the
// daemon exited and another process got its number) is never signalled.
// It returns once the process is gone and its sockets are released.
func StopDaemonProcess(ctx context.Context, pid int, m DaemonMatch, sandbox string, port int, grace time.Duration) (DaemonProcess, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return DaemonProcess{PID: pid}, &NotOursError{fmt.Sprintf("pid %d: not running (%v)", pid, err)}
	}
	defer unix.Close(pidfd)
	d, err := ProveDaemonProcess(ctx, pid, m, sandbox, port)
	if err != nil {
		return d, err
	}
	// The pidfd's process has not been reaped, so the pid read above was
	// still its own during the proof.
	if err := unix.PidfdSendSignal(pidfd, unix.SIGTERM, nil, 0); err != nil {
		return d, fmt.Errorf("signalling forward daemon pid %d: %w", pid, err)
	}
	if !waitPidfd(pidfd, grace) {
		unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		waitPidfd(pidfd, grace)
	}
	WaitExited(ctx, pid, grace)
	return d, nil
}

// waitPidfd waits up to timeout for the process behind pidfd to exit.
func waitPidfd(pidfd int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left < 0 {
			left = 0
		}
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds()))
		if err == nil && n > 0 {
			return true
		}
		if err != nil && errors.Is(err, unix.EINTR) && left > 0 {
			continue
		}
		return false
	}
}
