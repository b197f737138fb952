package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/statefs"
)

// The OpenShell test double's `forward start|stop|list`, with OpenShell's
// interface (argv, output, exit codes; see sandboxexec/openshell_forward.go
// for where in OpenShell's source that was read) over a REAL forward: as
// OpenShell does, `forward start` runs OpenSSH `ssh -N -o
// ExitOnForwardFailure=yes -L <bind>:<port>:127.0.0.1:<port>`, here with
// the sandbox's lab ssh-config, and records the ssh pid in a PID file
// (OpenShell's format: `<pid>\t<sandbox id>\t<bind>`) under the lab
// directory. `forward list` calls a row `running` only while that pid is
// alive, not a zombie, and is this double's ssh for that sandbox and port
// (as OpenShell re-checks ssh's argv), else `dead`.
//
// Where it differs from OpenShell, and why:
//   - PID files live in <lab dir>/.openshell-forwards, not in
//     $XDG_CONFIG_HOME/openshell/forwards: lab state stays under the lab.
//   - A background ssh writes to a log file beside its PID file instead of
//     inheriting the caller's stdout/stderr, which would keep a caller's
//     pipes open (and its Wait blocked) for the forward's whole life.
//   - `forward start` needs the sandbox name (OpenShell falls back to the
//     last-used sandbox, which the double does not track).
//   - Ports are checked by binding (OpenShell also asks lsof).

const (
	// forwardReadyTimeout, forwardProbeEvery and forwardProbeTimeout are
	// OpenShell's listener wait: up to 10 s, a 200 ms connect every 50 ms.
	forwardReadyTimeout = 10 * time.Second
	forwardProbeEvery   = 50 * time.Millisecond
	forwardProbeTimeout = 200 * time.Millisecond
)

// What owo-colors writes, as OpenShell uses it: "✓".green().bold(),
// "!".yellow(), "running".green(), "dead".red().
const (
	checkMark = "\x1b[1m\x1b[32m✓\x1b[39m\x1b[0m"
	bang      = "\x1b[33m!\x1b[39m"
	running   = "\x1b[32mrunning\x1b[39m"
	dead      = "\x1b[31mdead\x1b[39m"
)

func forwardsDir(o Options) string { return filepath.Join(o.LabDir, ".openshell-forwards") }

func forwardPIDPath(o Options, name string, port int) string {
	return filepath.Join(forwardsDir(o), fmt.Sprintf("%s-%d.pid", name, port))
}

// forwardRecord is one PID file.
type forwardRecord struct {
	Sandbox   string
	Port      int
	PID       int
	SandboxID string
	Bind      string
}

func readForwardRecord(o Options, name string, port int) (forwardRecord, bool) {
	data, err := os.ReadFile(forwardPIDPath(o, name, port))
	if err != nil {
		return forwardRecord{}, false
	}
	f := strings.Split(strings.TrimSpace(string(data)), "\t")
	pid, err := strconv.Atoi(strings.TrimSpace(f[0]))
	if err != nil {
		return forwardRecord{}, false
	}
	r := forwardRecord{Sandbox: name, Port: port, PID: pid, Bind: "127.0.0.1"}
	if len(f) > 1 {
		r.SandboxID = f[1]
	}
	if len(f) > 2 && f[2] != "" {
		r.Bind = f[2]
	}
	return r, true
}

func listForwardRecords(o Options) []forwardRecord {
	entries, _ := os.ReadDir(forwardsDir(o))
	var out []forwardRecord
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), ".pid")
		i := strings.LastIndexByte(stem, '-')
		if !ok || i < 0 {
			continue
		}
		port, err := strconv.Atoi(stem[i+1:])
		if err != nil {
			continue
		}
		if r, ok := readForwardRecord(o, stem[:i], port); ok {
			out = append(out, r)
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

// sshForwardArg is ssh's -L argument for a forward of port bound at bind.
func sshForwardArg(bind string, port int) string {
	if strings.Contains(bind, ":") {
		bind = "[" + bind + "]"
	}
	return fmt.Sprintf("%s:%d:127.0.0.1:%d", bind, port, port)
}

// validatedAlive: the recorded pid is alive (not a zombie) and is this
// double's ssh forward for the sandbox's ssh-config and this port.
func (r forwardRecord) validatedAlive(o Options) bool {
	if r.PID <= 0 || r.SandboxID == "" {
		return false
	}
	if _, st, err := procStart(r.PID); err != nil || st == "Z" || st == "X" {
		return false
	}
	p, err := readProcess(r.PID)
	if err != nil || len(p.Args) == 0 || filepath.Base(p.Args[0]) != "ssh" {
		return false
	}
	cfg := filepath.Join(sandboxDir(Options{LabDir: o.LabDir, Name: r.Sandbox}), "ssh_config")
	hasArg := func(flag, val string) bool {
		for i := 0; i+1 < len(p.Args); i++ {
			if p.Args[i] == flag && p.Args[i+1] == val {
				return true
			}
		}
		return false
	}
	return hasArg("-F", cfg) && hasArg("-L", sshForwardArg(r.Bind, r.Port))
}

// parseForwardSpec reads OpenShell's `[bind_address:]port`.
func parseForwardSpec(s string) (bind string, port int, err error) {
	bind = "127.0.0.1"
	p := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if n, err := strconv.Atoi(s[i+1:]); err == nil {
			bind, p = s[:i], strconv.Itoa(n)
		}
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("invalid forward spec '%s': expected [bind_address:]port", s)
	}
	if port == 0 {
		return "", 0, errors.New("port must be between 1 and 65535")
	}
	return bind, port, nil
}

// forwardList prints `openshell forward list`.
func forwardList(o Options, stdout, stderr io.Writer) int {
	recs := listForwardRecords(o)
	if len(recs) == 0 {
		fmt.Fprintln(stderr, "No active forwards.")
		return 0
	}
	nw, bw := 7, 4
	for _, r := range recs {
		nw, bw = max(nw, len(r.Sandbox)), max(bw, len(r.Bind))
	}
	fmt.Fprintf(stdout, "%-*s %-*s %-8s %-10s STATUS\n", nw, "SANDBOX", bw, "BIND", "PORT", "PID")
	for _, r := range recs {
		status := dead
		if r.validatedAlive(o) {
			status = running
		}
		fmt.Fprintf(stdout, "%-*s %-*s %-8d %-10d %s\n", nw, r.Sandbox, bw, r.Bind, r.Port, r.PID, status)
	}
	return 0
}

// forwardStop is `openshell forward stop <port> [name]`. Like OpenShell it
// exits 0 whether or not there was a forward to stop, says which on
// stderr, signals only a pid that validates as its own ssh forward, and
// removes the PID file in every case it finds one.
func forwardStop(o Options, args []string, stderr io.Writer, fail func(int, string, ...any) int) int {
	if len(args) < 1 || len(args) > 2 {
		return fail(2, "usage: openshell forward stop <PORT> [NAME]")
	}
	port, err := strconv.Atoi(args[0])
	if err != nil || port < 0 || port > 65535 {
		return fail(2, "invalid value '%s' for '<PORT>': invalid digit found in string", args[0])
	}
	name := ""
	if len(args) == 2 {
		name = args[1]
	} else {
		for _, r := range listForwardRecords(o) {
			if r.Port == port && r.validatedAlive(o) {
				name = r.Sandbox
				break
			}
		}
		if name == "" {
			fmt.Fprintf(stderr, "%s No active forward found for port %d\n", bang, port)
			return 0
		}
		fmt.Fprintf(stderr, "→ Found forward on sandbox '%s'\n", name)
	}
	if !stopForwardRecord(o, name, port) {
		fmt.Fprintf(stderr, "%s No active forward found for port %d on sandbox %s\n", bang, port, name)
		return 0
	}
	fmt.Fprintf(stderr, "%s Stopped forward of port %d for sandbox %s\n", checkMark, port, name)
	return 0
}

// stopForwardRecord follows OpenShell's stop: no record → false; a record
// without a sandbox id, or whose live pid is not its forward → removed,
// false; otherwise the pid (if alive) is sent SIGTERM, the record removed,
// true.
func stopForwardRecord(o Options, name string, port int) bool {
	path := forwardPIDPath(o, name, port)
	r, ok := readForwardRecord(o, name, port)
	if !ok {
		return false
	}
	if r.SandboxID == "" {
		os.Remove(path)
		return false
	}
	if _, st, err := procStart(r.PID); err == nil && st != "Z" && st != "X" {
		if !r.validatedAlive(o) {
			os.Remove(path)
			return false
		}
		syscall.Kill(r.PID, syscall.SIGTERM)
		// OpenShell gives it 200 ms; the double waits until it is gone
		// (bounded), so a test can rely on the port being free after.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if _, st, err := procStart(r.PID); err != nil || st == "Z" || st == "X" {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	os.Remove(path)
	return true
}

// stopSandboxForwards stops every forward of the double for sandbox name,
// as OpenShell's `sandbox delete` does; Down calls it.
func stopSandboxForwards(o Options, name string) {
	for _, r := range listForwardRecords(o) {
		if r.Sandbox == name {
			stopForwardRecord(o, name, r.Port)
		}
	}
}

// forwardStart is `openshell forward start [-d|--background] <[bind:]port>
// [name]`.
func forwardStart(ctx context.Context, o Options, args []string, stderr io.Writer, fail func(int, string, ...any) int, open func(string) (*Sandbox, int)) int {
	background := false
	var pos []string
	for _, a := range args {
		switch {
		case a == "-d" || a == "--background":
			background = true
		case strings.HasPrefix(a, "-"):
			return fail(2, "unexpected argument '%s' found", a)
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) < 1 || len(pos) > 2 {
		return fail(2, "usage: openshell forward start [--background] <PORT> [NAME]")
	}
	bind, port, err := parseForwardSpec(pos[0])
	if err != nil {
		return fail(1, "%v", err)
	}
	if len(pos) < 2 {
		return fail(1, "no sandbox name given (this test double does not track a last-used sandbox)")
	}
	name := pos[1]
	// OpenShell checks the port before it talks to the gateway.
	if code := checkForwardPort(o, bind, port, fail); code != 0 {
		return code
	}
	s, code := open(name)
	if s == nil {
		return code
	}
	if !s.running() {
		return fail(1, "sandbox '%s' is not ready (phase: Error)", name)
	}
	dir := forwardsDir(o)
	if err := statefs.EnsurePrivateDir(dir); err != nil {
		return fail(1, "%v", err)
	}
	logPath := strings.TrimSuffix(forwardPIDPath(o, name, port), ".pid") + ".log"
	sshArgs := []string{"-F", s.SSHConfig, "-o", "LogLevel=ERROR", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
		"-N", "-o", "ExitOnForwardFailure=yes", "-L", sshForwardArg(bind, port), s.Host}
	cmd := exec.Command("ssh", sshArgs...)
	if background {
		logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fail(1, "%v", err)
		}
		defer logf.Close()
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.Stdout, cmd.Stderr = stderr, stderr
	}
	if err := cmd.Start(); err != nil {
		return fail(1, "%v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := waitForwardListener(ctx, bind, port, exited); err != nil {
		cmd.Process.Kill()
		if background {
			return fail(1, "ssh process started but local forward listener was not reachable: %v", err)
		}
		return fail(1, "%v", err)
	}
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(accessHost(bind), strconv.Itoa(port)))
	if background {
		rec := fmt.Sprintf("%d\t%s\t%s", cmd.Process.Pid, "nemoclaw-lab-"+name, bind)
		if err := statefs.WriteAtomic(forwardPIDPath(o, name, port), []byte(rec)); err != nil {
			cmd.Process.Kill()
			return fail(1, "local forward listener was reachable but tracking the SSH process failed: %v", err)
		}
		fmt.Fprintf(stderr, "%s Forwarding port %d to sandbox %s in the background\n", checkMark, port, name)
		fmt.Fprintf(stderr, "  Access at: %s\n", url)
		fmt.Fprintf(stderr, "  Stop with: openshell forward stop %d %s\n", port, name)
		return 0
	}
	fmt.Fprintf(stderr, "%s Forwarding port %d to sandbox %s\n  Access at: %s\n  Press Ctrl+C to stop\n", checkMark, port, name, url)
	select {
	case err := <-exited:
		if err != nil {
			return fail(1, "ssh exited with status %v", err)
		}
		return 0
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		return 130
	}
}

// accessHost is the host OpenShell prints and probes for a bind address.
func accessHost(bind string) string {
	switch bind {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return bind
}

// checkForwardPort refuses a port that cannot be bound, naming a live
// forward of the double when it holds it (OpenShell's two messages).
func checkForwardPort(o Options, bind string, port int, fail func(int, string, ...any) int) int {
	l, err := net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(port)))
	if err == nil {
		l.Close()
		return 0
	}
	for _, r := range listForwardRecords(o) {
		if r.Port == port && r.validatedAlive(o) {
			return fail(1, "Port %d is already forwarded to sandbox '%s'.\nStop it with: openshell forward stop %d %s", port, r.Sandbox, port, r.Sandbox)
		}
	}
	return fail(1, "Port %d is already in use by another process.\nFind it with: lsof -i :%d -sTCP:LISTEN\nThen terminate it with: kill <PID>", port, port)
}

// waitForwardListener polls the local end until a connect succeeds, ssh
// exits, or OpenShell's 10 s pass.
func waitForwardListener(ctx context.Context, bind string, port int, exited <-chan error) error {
	addr := net.JoinHostPort(accessHost(bind), strconv.Itoa(port))
	deadline := time.Now().Add(forwardReadyTimeout)
	var last error
	for {
		c, err := net.DialTimeout("tcp", addr, forwardProbeTimeout)
		if err == nil {
			c.Close()
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("local forward listener did not open on %s within %dms: last probe failed with %v", addr, forwardReadyTimeout.Milliseconds(), last)
		}
		select {
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("ssh exited with status %v before local forward listener opened on %s", err, addr)
			}
			return fmt.Errorf("ssh exited before local forward listener opened on %s", addr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(forwardProbeEvery):
		}
	}
}

// OpenShellArgvLog is the file in the shim's directory where the shim
// records each invocation's arguments (one JSON array per line).
func OpenShellArgvLog(shimDir string) string { return filepath.Join(shimDir, "openshell-argv.log") }

// ReadOpenShellArgv returns the argument lists the shim in shimDir was run
// with, oldest first.
func ReadOpenShellArgv(shimDir string) ([][]string, error) {
	data, err := os.ReadFile(OpenShellArgvLog(shimDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out [][]string
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var args []string
		if err := json.Unmarshal(line, &args); err != nil {
			return nil, fmt.Errorf("reading %s: %w", OpenShellArgvLog(shimDir), err)
		}
		out = append(out, args)
	}
	return out, nil
}

// LogOpenShellArgv appends args to the argv log at path.
func LogOpenShellArgv(path string, args []string) error {
	line, err := json.Marshal(args)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("recording openshell arguments: %w", err)
	}
	defer f.Close()
	// One write per line: concurrent invocations do not interleave.
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("recording openshell arguments: %w", err)
	}
	return nil
}
