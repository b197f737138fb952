package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
	"github.com/nemoclaw/nemoclaw-go/portforward"
)

// forwardHang is hang protection only; nothing asserts on durations.
const forwardHang = 60 * time.Second

// buildNemoclaw builds the real binary: the daemon `forward start` launches
// must be the program operators run, not the test binary.
func buildNemoclaw(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "nemoclaw")
	cmd := exec.Command(goBin, "build", "-o", out, "../cmd/nemoclaw")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building nemoclaw: %v\n%s", err, b)
	}
	return out
}

// forwardEnv is one sandbox behind a real sshd, registered in a temp HOME,
// with a dashboard stand-in serving on 127.0.0.2:<port> "inside" it.
type forwardEnv struct {
	t    testing.TB
	bin  string
	home string
	port int
	srv  *sshdtest.Server
	env  map[string]string
}

// dashboardPage is what the stand-in dashboard serves; seeing it through
// 127.0.0.1:<port> proves the request went through the forward and sshd.
const dashboardPage = "<title>OpenClaw Control</title>"

func newForwardEnv(t testing.TB, bin string) *forwardEnv {
	t.Helper()
	srv := sshdtest.Start(t)
	e := &forwardEnv{t: t, bin: bin, home: t.TempDir(), srv: srv}
	e.port = e.startServer(dashboardHandler)
	e.env = map[string]string{
		"HOME":                         e.home,
		"NEMOCLAW_FORWARD_BINARY":      bin,
		"NEMOCLAW_FORWARD_REMOTE_HOST": "127.0.0.2",
		"PATH":                         os.Getenv("PATH"),
	}
	e.register("demo", e.port)
	// Whatever a test leaves running is stopped, even after a failure:
	// every daemon recorded in this HOME, by its verified pid.
	t.Cleanup(e.killDaemons)
	return e
}

// dashboardHandler is the stand-in dashboard.
var dashboardHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html")
	io.WriteString(w, dashboardPage)
})

// startDashboard serves another stand-in dashboard.
func (e *forwardEnv) startDashboard() int { return e.startServer(dashboardHandler) }

// startServer serves h on 127.0.0.2:P for a P that is also free on
// 127.0.0.1 (where the forward will listen).
func (e *forwardEnv) startServer(h http.Handler) int {
	e.t.Helper()
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp4", "127.0.0.2:0")
		if err != nil {
			e.t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		probe, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			l.Close()
			continue
		}
		probe.Close()
		srv := &http.Server{Handler: h}
		go srv.Serve(l)
		e.t.Cleanup(func() { srv.Close() })
		return port
	}
	e.t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return 0
}

// register adds (or replaces) a sandbox entry of transport kind ssh.
func (e *forwardEnv) register(name string, port int) {
	e.t.Helper()
	path := filepath.Join(e.home, ".nemoclaw", "sandboxes.json")
	reg := map[string]any{"sandboxes": map[string]any{}, "defaultSandbox": nil}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &reg); err != nil {
			e.t.Fatal(err)
		}
	}
	reg["sandboxes"].(map[string]any)[name] = map[string]any{
		"name": name, "agent": "openclaw", "dashboardPort": port,
		"transport": map[string]any{"kind": "ssh", "sshConfig": e.srv.ConfigFile, "host": e.srv.Host},
	}
	b, _ := json.Marshal(reg)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// run runs the CLI in-process, as an operator's shell would.
func (e *forwardEnv) run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	inv := &Invocation{
		Brand:  BrandFor("nemoclaw"),
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string { return e.env[k] },
	}
	ctx, cancel := context.WithTimeout(context.Background(), forwardHang)
	defer cancel()
	code = inv.Run(ctx, append([]string{"nemoclaw"}, args...))
	return code, out.String(), errb.String()
}

// runProcess runs the built binary as its own process, as an operator
// does. Where a test asserts what is left once the command has returned,
// this keeps the test process's other parallel forks out of the picture: a
// child it forked for another test holds copies of every descriptor
// (close-on-exec ones included) until that child execs.
func (e *forwardEnv) runProcess(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), forwardHang)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	for k, v := range e.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		e.t.Fatalf("running %s: %v", e.bin, err)
	}
	return code, out.String(), errb.String()
}

// runJSON runs a --json forward command, checks its output is one report
// object, and returns the forward it reports with the report's exitCode.
func (e *forwardEnv) runJSON(args ...string) (int, map[string]any) {
	e.t.Helper()
	code, out, errOut := e.run(append(args, "--json")...)
	var rep struct {
		SchemaVersion int              `json:"schemaVersion"`
		ExitCode      *int             `json:"exitCode"`
		Forwards      []map[string]any `json:"forwards"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&rep); err != nil || dec.More() {
		e.t.Fatalf("%v: stdout is not one JSON object: %v\nstdout: %s\nstderr: %s", args, err, out, errOut)
	}
	if rep.SchemaVersion != 1 || rep.ExitCode == nil || *rep.ExitCode != code || len(rep.Forwards) != 1 {
		e.t.Fatalf("%v: report (exit %d) lacks schemaVersion, exitCode or its one forward:\n%s", args, code, out)
	}
	m := rep.Forwards[0]
	m["exitCode"] = float64(*rep.ExitCode)
	return code, m
}

// forwardList runs `forward list --json` and returns its exit code, its
// forwards, and the raw output for failure messages.
func (e *forwardEnv) forwardList() (int, []map[string]any, string) {
	e.t.Helper()
	code, out, errOut := e.run("forward", "list", "--json")
	var rep struct {
		Forwards []map[string]any `json:"forwards"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		e.t.Fatalf("forward list --json is not one report: %v\n%s%s", err, out, errOut)
	}
	return code, rep.Forwards, out + errOut
}

func (e *forwardEnv) forwardsDir() string {
	return filepath.Join(e.home, ".nemoclaw", "state", "forwards")
}

func (e *forwardEnv) state(name string, port int) portforward.State {
	e.t.Helper()
	st, err := portforward.ReadState(portforward.PathsFor(e.forwardsDir(), name, port).State)
	if err != nil {
		e.t.Fatalf("reading forward state: %v", err)
	}
	return st
}

func (e *forwardEnv) killDaemons() {
	states, _ := portforward.ListStates(e.forwardsDir())
	for _, st := range states {
		if _, err := portforward.Verify(context.Background(), st); err == nil {
			syscall.Kill(st.PID, syscall.SIGKILL)
		}
	}
}

// get fetches / through the forward.
func get(port int) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func mustReach(t *testing.T, port int) {
	t.Helper()
	body, err := get(port)
	if err != nil || body != dashboardPage {
		t.Fatalf("GET through the forward on %d: %q, %v", port, body, err)
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && b[i+2] != 'Z'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(forwardHang)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestForwardDaemon drives `forward start|stop|status|list` in-process
// against real sshd servers, with the real nemoclaw binary as the daemon.
func TestForwardDaemon(t *testing.T) {
	t.Parallel()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, sshdtest.SSHD)
	bin := buildNemoclaw(t)

	// start → the request reaches the server; start again → the same
	// daemon is kept (no restart); files are private.
	t.Run("StartServesAndIsIdempotent", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		code, m := e.runJSON("demo", "forward", "start")
		if code != 0 || m["state"] != "healthy" || m["action"] != "started" {
			t.Fatalf("start: exit %d, %v", code, m)
		}
		mustReach(t, e.port)
		st := e.state("demo", e.port)
		if float64(st.PID) != m["pid"] || st.ID != m["id"] {
			t.Fatalf("state %+v does not match the report %v", st, m)
		}

		code, out, errOut := e.run("demo", "forward", "start")
		if code != 0 || !strings.Contains(out, "already running") {
			t.Fatalf("second start: exit %d\n%s%s", code, out, errOut)
		}
		if again := e.state("demo", e.port); again.PID != st.PID || again.ID != st.ID {
			t.Fatalf("second start replaced the daemon: %+v -> %+v", st, again)
		}
		mustReach(t, e.port)

		_, human, _ := e.run("demo", "forward", "status")
		_, list, _ := e.run("forward", "list")
		t.Logf("status:\n%slist:\n%s", human, list)
		if !strings.Contains(human, "healthy") || !strings.Contains(list, "demo") {
			t.Errorf("human status or list does not show the forward:\n%s%s", human, list)
		}
		code, m = e.runJSON("demo", "forward", "status")
		if code != 0 || m["state"] != "healthy" || m["url"] != fmt.Sprintf("http://127.0.0.1:%d/", e.port) {
			t.Fatalf("status: exit %d, %v", code, m)
		}
		counters, _ := m["counters"].(map[string]any)
		if counters == nil || counters["totalConnections"].(float64) < 3 || counters["connected"] != true {
			t.Fatalf("status counters: %v", m)
		}

		// SPEC §12: state files 0600 in 0700 dirs, control socket 0600.
		paths := portforward.PathsFor(e.forwardsDir(), "demo", e.port)
		for _, c := range []struct {
			path string
			want os.FileMode
		}{
			{filepath.Join(e.home, ".nemoclaw", "state"), 0o700},
			{e.forwardsDir(), 0o700},
			{paths.State, 0o600},
			{paths.Log, 0o600},
			{paths.Control, 0o600},
			{paths.Lock, 0o600},
		} {
			if got := mode(t, c.path); got != c.want {
				t.Errorf("%s: mode %o, want %o", c.path, got, c.want)
			}
		}
	})

	// Two starts at once (two recoveries racing) end with one daemon: one
	// starts it, the other finds it healthy and keeps it.
	t.Run("ConcurrentStartsMakeOneDaemon", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		type res struct {
			code int
			m    map[string]any
		}
		results := make(chan res, 2)
		for i := 0; i < 2; i++ {
			go func() {
				code, m := e.runJSON("demo", "forward", "start")
				results <- res{code, m}
			}()
		}
		a, b := <-results, <-results
		if a.code != 0 || b.code != 0 {
			t.Fatalf("concurrent starts: %v / %v", a, b)
		}
		actions := []any{a.m["action"], b.m["action"]}
		if !(actions[0] == "started" && actions[1] == "kept" || actions[0] == "kept" && actions[1] == "started") || a.m["pid"] != b.m["pid"] {
			t.Fatalf("concurrent starts did not converge on one daemon: %v / %v", a.m, b.m)
		}
		if pids := daemonsFor(bin, e.port); len(pids) != 1 {
			t.Fatalf("daemons running for the port: %v, want exactly one", pids)
		}
	})

	// --port manages another port of the same sandbox (Hermes's API port
	// beside its dashboard), independently of the dashboard's forward.
	t.Run("PortFlagManagesAnotherPort", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		api := e.startDashboard()
		ap := strconv.Itoa(api)
		code, m := e.runJSON("demo", "forward", "start", "--port", ap)
		if code != 0 || m["state"] != "healthy" || m["port"] != float64(api) {
			t.Fatalf("start --port: exit %d, %v", code, m)
		}
		mustReach(t, api)
		if code, m := e.runJSON("demo", "forward", "status"); code != exitcode.Forward || m["state"] != "absent" {
			t.Errorf("the dashboard port's status: exit %d, %v (want absent)", code, m)
		}
		if code, m := e.runJSON("demo", "forward", "stop", "--port", ap); code != 0 || m["action"] != "stopped" {
			t.Errorf("stop --port: exit %d, %v", code, m)
		}
		if code, _, errOut := e.run("demo", "forward", "start", "--port", "0"); code != exitcode.Usage {
			t.Errorf("--port 0: exit %d, want 2\n%s", code, errOut)
		}
	})

	// The gateway is not answering yet: the daemon connects (sshd is up),
	// start says the dashboard did not answer (exit 4, no success line),
	// the daemon stays, and serves by itself once the gateway is up.
	t.Run("GatewayDownThenUp", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		port := testenv.FreePort(t)
		e.register("demo", port)
		code, out, errOut := e.run("demo", "forward", "start")
		if code != exitcode.Forward || strings.Contains(out, "Forward started") || !strings.Contains(errOut, "did not answer") {
			t.Fatalf("start with no gateway: exit %d\n%s%s", code, out, errOut)
		}
		st := e.state("demo", port)
		if !alive(st.PID) {
			t.Fatalf("the daemon did not stay")
		}
		l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.2:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: dashboardHandler}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		code, m := e.runJSON("demo", "forward", "status")
		if code != 0 || m["state"] != "healthy" || m["pid"] != float64(st.PID) {
			t.Fatalf("status once the gateway is up: exit %d, %v", code, m)
		}
		mustReach(t, port)
	})

	// A sandbox removed from the registry while its forward runs: status
	// and stop still find our daemon from its record; start does not.
	t.Run("UnregisteredSandboxCanStillBeStopped", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		if code, out, errOut := e.run("demo", "forward", "start"); code != 0 {
			t.Fatalf("start: %d\n%s%s", code, out, errOut)
		}
		st := e.state("demo", e.port)
		reg := filepath.Join(e.home, ".nemoclaw", "sandboxes.json")
		if err := os.WriteFile(reg, []byte(`{"sandboxes": {}, "defaultSandbox": null}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, m := e.runJSON("demo", "forward", "status"); code != 0 || m["state"] != "healthy" {
			t.Errorf("status of an unregistered sandbox's forward: exit %d, %v", code, m)
		}
		if code, _, _ := e.run("demo", "forward", "start"); code != exitcode.Failed {
			t.Errorf("start of an unregistered sandbox: exit %d, want 1", code)
		}
		if code, m := e.runJSON("demo", "forward", "stop"); code != 0 || m["action"] != "stopped" {
			t.Fatalf("stop of an unregistered sandbox's forward: exit %d, %v", code, m)
		}
		waitGone(t, st.PID)
		if code, _, _ := e.run("demo", "forward", "stop"); code != exitcode.Failed {
			t.Errorf("stop with neither registry entry nor record: exit %d, want 1 (unknown sandbox)", code)
		}
	})

	// The starting CLI exits and its session is torn down: the forward
	// keeps serving, from its own session, with no terminal.
	t.Run("OutlivesTheStartingCLI", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		cmd := exec.Command(bin, "demo", "forward", "start")
		for k, v := range e.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("nemoclaw demo forward start: %v\n%s", err, out.String())
		}
		starterSession := cmd.Process.Pid
		// Tear the starter's session down as a closing terminal would.
		syscall.Kill(-starterSession, syscall.SIGHUP)
		syscall.Kill(-starterSession, syscall.SIGKILL)

		st := e.state("demo", e.port)
		if !alive(st.PID) {
			t.Fatalf("daemon %d died with its starter", st.PID)
		}
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", st.PID))
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		// Fields after the command: state ppid pgrp session tty_nr ...
		if sid, _ := strconv.Atoi(f[3]); sid != st.PID {
			t.Errorf("daemon session %d, want its own (%d)", sid, st.PID)
		}
		if f[4] != "0" {
			t.Errorf("daemon has a controlling terminal (tty_nr %s)", f[4])
		}
		if in, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/0", st.PID)); in != "/dev/null" {
			t.Errorf("daemon stdin is %q, want /dev/null", in)
		}
		if o, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/1", st.PID)); o != st.Log {
			t.Errorf("daemon stdout is %q, want its log %s", o, st.Log)
		}
		mustReach(t, e.port)
	})

	// kill -9 of the daemon → status says dead (exit 4), start replaces it.
	t.Run("KilledDaemonIsReportedDeadAndReplaced", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		if code, out, errOut := e.run("demo", "forward", "start"); code != 0 {
			t.Fatalf("start: %d\n%s%s", code, out, errOut)
		}
		old := e.state("demo", e.port)
		syscall.Kill(old.PID, syscall.SIGKILL)
		waitGone(t, old.PID)

		code, m := e.runJSON("demo", "forward", "status")
		if code != exitcode.Forward || m["state"] != "dead" {
			t.Fatalf("status after kill -9: exit %d, %v", code, m)
		}
		if _, ok := m["url"]; ok {
			t.Errorf("status of a dead forward printed a URL: %v", m)
		}
		code, m = e.runJSON("demo", "forward", "start")
		if code != 0 || m["action"] != "replaced" || m["state"] != "healthy" {
			t.Fatalf("start after kill -9: exit %d, %v", code, m)
		}
		if m["pid"] == float64(old.PID) {
			t.Fatalf("start reused the dead pid")
		}
		mustReach(t, e.port)
	})

	// A foreign listener on the port: exit 4, its pid reported, left
	// running, and no dashboard URL anywhere in the output.
	t.Run("ForeignListenerIsLeftAloneWithoutURL", func(t *testing.T) {
		t.Parallel()
		socat := testenv.RequireBinary(t, "socat")
		e := newForwardEnv(t, bin)
		foreign := exec.Command(socat, fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork", e.port), "SYSTEM:echo foreign")
		if err := foreign.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { foreign.Process.Kill(); foreign.Wait() })
		deadline := time.Now().Add(forwardHang)
		for {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", e.port)); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("socat never listened")
			}
			time.Sleep(20 * time.Millisecond)
		}

		code, out, errOut := e.run("demo", "forward", "start")
		all := out + errOut
		t.Logf("output:\n%s", all)
		if code != exitcode.Forward {
			t.Fatalf("start over a foreign listener: exit %d, want 4\n%s", code, all)
		}
		if !strings.Contains(all, fmt.Sprintf("pid %d", foreign.Process.Pid)) || !strings.Contains(all, "socat") {
			t.Errorf("the foreign pid and command are not reported:\n%s", all)
		}
		if strings.Contains(all, "http://") {
			t.Errorf("output carries a URL despite a foreign listener:\n%s", all)
		}
		code, m := e.runJSON("demo", "forward", "start")
		if code != exitcode.Forward || m["state"] != "foreign" || m["url"] != nil {
			t.Errorf("--json start over a foreign listener: exit %d, %v", code, m)
		}
		if b, _ := json.Marshal(m); strings.Contains(string(b), "http://") {
			t.Errorf("JSON carries a URL: %s", b)
		}
		code, m = e.runJSON("demo", "forward", "status")
		if code != exitcode.Forward || m["state"] != "foreign" {
			t.Errorf("status: exit %d, %v", code, m)
		}
		if code, out, errOut := e.run("demo", "forward", "stop"); code != 0 || strings.Contains(out+errOut, "http://") {
			t.Errorf("stop: exit %d\n%s%s", code, out, errOut)
		}
		if !alive(foreign.Process.Pid) {
			t.Fatalf("the foreign listener was killed")
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", e.port))
		if err != nil {
			t.Fatalf("the foreign listener stopped listening: %v", err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != "foreign\n" {
			t.Fatalf("port %d now answers %q, not the foreign process", e.port, b)
		}
		if _, err := os.Stat(portforward.PathsFor(e.forwardsDir(), "demo", e.port).State); err == nil {
			t.Errorf("a state record was left for a forward that never started")
		}
	})

	// forward stop stops our daemon for that sandbox and port only: not
	// another sandbox's, and never a process a forged or stale record
	// points at.
	t.Run("StopStopsOnlyOurs", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		other := e.startDashboard()
		e.register("other", other)
		for _, name := range []string{"demo", "other"} {
			if code, out, errOut := e.run(name, "forward", "start"); code != 0 {
				t.Fatalf("start %s: %d\n%s%s", name, code, out, errOut)
			}
		}
		demo, oth := e.state("demo", e.port), e.state("other", other)

		code, m := e.runJSON("demo", "forward", "stop")
		if code != 0 || m["action"] != "stopped" {
			t.Fatalf("stop: exit %d, %v", code, m)
		}
		waitGone(t, demo.PID)
		if !alive(oth.PID) {
			t.Fatalf("stopping demo stopped other's daemon")
		}
		mustReach(t, other)
		if _, err := os.Stat(portforward.PathsFor(e.forwardsDir(), "demo", e.port).State); err == nil {
			t.Errorf("state record left after stop")
		}
		if code, out, _ := e.run("demo", "forward", "stop"); code != 0 || !strings.Contains(out, "No forward of ours") {
			t.Errorf("second stop: exit %d\n%s", code, out)
		}

		// A record that points at someone else's process (a reused pid,
		// or a forged file) must never get that process signalled.
		victim := exec.Command("sleep", "300")
		if err := victim.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
		paths := portforward.PathsFor(e.forwardsDir(), "demo", e.port)
		forged := portforward.State{PID: victim.Process.Pid, Sandbox: "demo", Port: e.port, ID: "forged",
			Binary: bin, Control: paths.Control, Log: paths.Log}
		if err := portforward.WriteState(paths.State, forged); err != nil {
			t.Fatal(err)
		}
		code, m = e.runJSON("demo", "forward", "stop")
		if code != 0 || m["action"] != "removed-stale" {
			t.Errorf("stop with a forged record: exit %d, %v", code, m)
		}
		if !alive(victim.Process.Pid) {
			t.Fatalf("stop signalled a process that is not ours")
		}
		// The same record with our other daemon's pid: alive and a forward
		// daemon, but for another sandbox and id: still not ours.
		forged.PID = oth.PID
		if err := portforward.WriteState(paths.State, forged); err != nil {
			t.Fatal(err)
		}
		if code, m = e.runJSON("demo", "forward", "stop"); code != 0 || m["action"] != "removed-stale" {
			t.Errorf("stop with a record naming another forward's pid: exit %d, %v", code, m)
		}
		if !alive(oth.PID) {
			t.Fatalf("stop signalled another sandbox's daemon through a forged record")
		}

		code, list, out := e.forwardList()
		errOut := ""
		if code != 0 || len(list) != 1 || list[0]["sandbox"] != "other" || list[0]["state"] != "running" {
			t.Errorf("forward list: exit %d\n%s%s", code, out, errOut)
		}
	})

	// A daemon that cannot reach the sandbox reports why, with the
	// transport's exit code, and nothing is left behind: no process, no
	// record, the port free.
	t.Run("FailedStartLeavesNothingBehind", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name   string
			break_ func(e *forwardEnv)
			want   int
		}{
			// sshd down: the sandbox is unreachable (SPEC §2.3: 3).
			{"sshd down", func(e *forwardEnv) { e.srv.Kill() }, exitcode.Unreachable},
			// A pinned host key that does not match: refused (6), never
			// connected anyway.
			{"host key mismatch", func(e *forwardEnv) {
				other := filepath.Join(e.home, "known_hosts_other")
				line := e.srv.Host + " ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
				if err := os.WriteFile(other, []byte(line), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg := e.srv.WriteClientConfig(t, "UserKnownHostsFile "+other)
				e.srv.ConfigFile = cfg
				e.register("demo", e.port)
			}, exitcode.HostKey},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := newForwardEnv(t, bin)
				tc.break_(e)
				code, out, errOut := e.runProcess("demo", "forward", "start")
				t.Logf("output:\n%s%s", out, errOut)
				if code != tc.want {
					t.Fatalf("start: exit %d, want %d\n%s%s", code, tc.want, out, errOut)
				}
				if strings.Contains(out+errOut, "http://") {
					t.Errorf("a failed start printed a URL:\n%s%s", out, errOut)
				}
				if _, err := os.Stat(portforward.PathsFor(e.forwardsDir(), "demo", e.port).State); err == nil {
					t.Errorf("a failed start left a state record")
				}
				// No listening socket on the port, in any process. (A bind
				// probe would also fail when a parallel test's outgoing
				// connection happens to get this port as its ephemeral
				// source port, which says nothing about us.)
				if h, held := portforward.PortHolder(e.port); held {
					t.Fatalf("port %d still has a listener after a failed start: pid %d %q", e.port, h.PID, h.Command)
				}
				if pids := daemonsFor(bin, e.port); len(pids) > 0 {
					t.Fatalf("daemon processes left behind: %v", pids)
				}
			})
		}
	})

	// sshd killed and restarted under the daemon: it reconnects by itself
	// and counts it; the port stayed bound.
	t.Run("DaemonReconnectsAfterSSHDRestart", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		if code, out, errOut := e.run("demo", "forward", "start"); code != 0 {
			t.Fatalf("start: %d\n%s%s", code, out, errOut)
		}
		st := e.state("demo", e.port)
		e.srv.Restart()
		deadline := time.Now().Add(forwardHang)
		var lastErr error
		for {
			if time.Now().After(deadline) {
				t.Fatalf("forward did not serve again: %v", lastErr)
			}
			var body string
			if body, lastErr = get(e.port); lastErr == nil && body == dashboardPage {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		s, err := portforward.QueryControl(context.Background(), st.Control)
		if err != nil || s.Reconnects < 1 || s.ID != st.ID {
			t.Fatalf("daemon status after sshd restart: %+v, %v", s, err)
		}
		if e.state("demo", e.port).PID != st.PID {
			t.Fatalf("the daemon was replaced instead of reconnecting")
		}
	})
}

// daemonsFor lists live processes running bin as a forward daemon for port.
func daemonsFor(bin string, port int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || !alive(pid) {
			continue
		}
		args, err := portforward.ProcessArgs(pid)
		if err != nil || args[0] != bin || !strings.Contains(strings.Join(args, " "), "--port "+strconv.Itoa(port)+" ") {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// TestForwardLabSandbox runs the forward against a lab sandbox: sshd in
// the sandbox's own network namespace behind a ProxyCommand, as OpenShell
// sandboxes are reached, so the forward dials the real 127.0.0.1:<port>
// inside. A pod recreate (every process gone, sshd restarted) is healed by
// the daemon itself.
func TestForwardLabSandbox(t *testing.T) {
	t.Parallel()
	testenv.RequireRoot(t)
	for _, b := range []string{sshdtest.SSHD, "ssh", "node", "unshare", "nsenter"} {
		testenv.RequireBinary(t, b)
	}
	bin := buildNemoclaw(t)
	base := t.TempDir()
	port := testenv.FreePort(t)
	o := lab.Options{Name: "fwdlab", Home: filepath.Join(base, "home"), LabDir: filepath.Join(base, "lab"), Port: port}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sb, err := lab.Up(ctx, o)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := sb.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	e := &forwardEnv{t: t, bin: bin, home: o.Home, port: port, env: map[string]string{
		"HOME": o.Home, "NEMOCLAW_FORWARD_BINARY": bin, "PATH": os.Getenv("PATH"),
	}}
	t.Cleanup(e.killDaemons)

	code, m := e.runJSON("fwdlab", "forward", "start")
	if code != 0 || m["state"] != "healthy" {
		t.Fatalf("forward start: exit %d, %v", code, m)
	}
	body, err := get(port)
	if err != nil || !strings.Contains(body, "<title>OpenClaw Control</title>") {
		t.Fatalf("dashboard through the forward: %q, %v", body, err)
	}
	st := e.state("fwdlab", port)

	if err := sb.Recreate(ctx); err != nil {
		t.Fatalf("recreate: %v", err)
	}
	// The recreated sandbox has no gateway yet; the proof is the daemon's
	// own account: the same daemon, connected again after a reconnect.
	deadline := time.Now().Add(forwardHang)
	for {
		s, err := portforward.QueryControl(ctx, st.Control)
		if err == nil && s.Connected && s.Reconnects >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not reconnect after the recreate: %+v, %v", s, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if again := e.state("fwdlab", port); again.PID != st.PID {
		t.Fatalf("the daemon was replaced (%d -> %d) instead of reconnecting", st.PID, again.PID)
	}
	if code, out, errOut := e.run("fwdlab", "forward", "stop"); code != 0 {
		t.Fatalf("forward stop: %d\n%s%s", code, out, errOut)
	}
	waitGone(t, st.PID)
}
