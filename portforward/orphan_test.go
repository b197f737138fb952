package portforward

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// TestMain lets this test binary double as a decoy process: with
// PORTFORWARD_TEST_DECOY set it listens on a port, optionally answers on a
// control socket, and waits to be killed, under whatever argv the test
// gives it. It is not a forward daemon; the proof must tell.
func TestMain(m *testing.M) {
	if os.Getenv("PORTFORWARD_TEST_DECOY") != "" {
		os.Exit(runDecoy())
	}
	os.Exit(m.Run())
}

func runDecoy() int {
	port, _ := strconv.Atoi(os.Getenv("DECOY_PORT"))
	l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer l.Close()
	if path := os.Getenv("DECOY_SOCKET"); path != "" {
		id := os.Getenv("DECOY_ID")
		if _, err := ServeControl(context.Background(), path, func() Status { return Status{ID: id, PID: os.Getpid()} }); err != nil {
			fmt.Println("error:", err)
			return 1
		}
	}
	fmt.Println("ready")
	select {}
}

type decoy struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startDecoy runs this test binary as argv (argv[0] is what /proc shows,
// not what runs), listening on listen, with a control socket at socket
// answering id when socket is set.
func startDecoy(t *testing.T, argv []string, listen int, socket, id string) *decoy {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: self, Args: argv, Env: append(os.Environ(), "PORTFORWARD_TEST_DECOY=1",
		"DECOY_PORT="+strconv.Itoa(listen), "DECOY_SOCKET="+socket, "DECOY_ID="+id)}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &decoy{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-d.done })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("decoy %v did not start: %q", argv, line)
	}
	return d
}

func (d *decoy) alive() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// The proof that a process with no record is a daemon of ours, case by
// case, against real processes: every decoy below looks like one of our
// daemons in all but one respect, is refused for that respect, and is
// never signalled; the last ones are ours and are found and stopped.
func TestProveDaemonProcess(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	ours := filepath.Join(bin, "nemoclaw") // our program: a link to the running binary
	if err := os.Symlink(self, ours); err != nil {
		t.Fatal(err)
	}
	impostor := filepath.Join(t.TempDir(), "nemoclaw") // names our program, is not it
	dir := t.TempDir()
	m := DaemonMatch{Dir: dir, Programs: []string{"nemoclaw", "nemohermes"}}
	argv := func(argv0, sandbox string, port int, id, forwardsDir string) []string {
		return []string{argv0, DaemonCommand, "--sandbox", sandbox, "--port", strconv.Itoa(port), "--id", id,
			"--remote", "127.0.0.1:" + strconv.Itoa(port), "--" + ForwardsDirFlag, forwardsDir, "--listen-fd", "3"}
	}
	refused := []struct {
		why    string
		argv   func(port int) []string
		listen func(port int) int
		socket func(port int) (path, id string)
		want   string
	}{
		{"wears our argv but runs another program",
			func(p int) []string { return argv(impostor, "demo", p, "i1", dir) }, nil, nil, "its executable is"},
		{"our program, but its control socket answers another forward id",
			func(p int) []string { return argv(ours, "demo", p, "i2", dir) }, nil,
			func(p int) (string, string) { return PathsFor(dir, "demo", p).Control, "someone-else" }, "control socket"},
		{"a daemon of another HOME (another forwards directory)",
			func(p int) []string { return argv(ours, "demo", p, "i3", t.TempDir()) }, nil, nil, "not " + dir},
		{"a daemon of another sandbox on that port",
			func(p int) []string { return argv(ours, "other", p, "i4", dir) }, nil, nil, "sandbox 'other'"},
		{"our argv, but the port is held by someone else",
			func(p int) []string { return argv(ours, "demo", p, "i5", dir) },
			func(int) int { return testenv.FreePort(t) }, nil, "does not hold the listener"},
		{"a program whose name is not ours",
			func(p int) []string { return argv(self, "demo", p, "i6", dir) }, nil, nil, "not one of nemoclaw"},
		{"an extra positional argument: not our command line",
			func(p int) []string { return append(argv(ours, "demo", p, "i7", dir), "stray") }, nil, nil, "unexpected argument"},
		{"a flag given twice (which one would the daemon use?)",
			func(p int) []string { return append(argv(ours, "demo", p, "i8", dir), "--port", "1") }, nil, nil, "given twice"},
	}
	for _, c := range refused {
		port := testenv.FreePort(t)
		listen := port
		if c.listen != nil {
			listen = c.listen(port)
		}
		var sock, id string
		if c.socket != nil {
			sock, id = c.socket(port)
		}
		d := startDecoy(t, c.argv(port), listen, sock, id)
		pid := d.cmd.Process.Pid
		ctx := context.Background()
		_, err := ProveDaemonProcess(ctx, pid, m, "demo", port)
		var no *NotOursError
		if !errors.As(err, &no) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: ProveDaemonProcess = %v, want a refusal saying %q", c.why, err, c.want)
		}
		if _, err := StopDaemonProcess(ctx, pid, m, "demo", port, time.Second); err == nil {
			t.Errorf("%s: StopDaemonProcess accepted it", c.why)
		}
		for _, f := range FindDaemonProcesses(ctx, m) {
			// Another sandbox's daemon is ours, and listed, under its
			// own sandbox.
			if f.PID == pid && f.Sandbox == "demo" {
				t.Errorf("%s: FindDaemonProcesses lists it for demo", c.why)
			}
		}
		if !d.alive() {
			t.Fatalf("%s: the decoy was signalled", c.why)
		}
	}

	// Ours: our program, our argv for this directory, sandbox and port,
	// the listener, and a control socket answering its id (or none at
	// all, as when the directory was deleted). Found, proven, stopped.
	for _, withSocket := range []bool{true, false} {
		port := testenv.FreePort(t)
		var sock string
		if withSocket {
			sock = PathsFor(dir, "demo", port).Control
		}
		d := startDecoy(t, argv(ours, "demo", port, "mine", dir), port, sock, "mine")
		pid := d.cmd.Process.Pid
		ctx := context.Background()
		got, err := ProveDaemonProcess(ctx, pid, m, "demo", port)
		if err != nil || got.ID != "mine" || got.Sandbox != "demo" || got.Port != port {
			t.Fatalf("socket %v: a daemon of ours was not proven: %+v, %v", withSocket, got, err)
		}
		found := false
		for _, f := range FindDaemonProcesses(ctx, m) {
			found = found || f.PID == pid
		}
		if !found {
			t.Errorf("socket %v: FindDaemonProcesses does not list pid %d", withSocket, pid)
		}
		if _, err := StopDaemonProcess(ctx, pid, m, "demo", port, 5*time.Second); err != nil {
			t.Fatalf("socket %v: StopDaemonProcess: %v", withSocket, err)
		}
		select {
		case <-d.done:
		case <-time.After(hang):
			t.Fatalf("socket %v: the daemon did not exit", withSocket)
		}
		if ws, ok := d.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGTERM {
			t.Errorf("socket %v: it ended with %v, want SIGTERM", withSocket, d.cmd.ProcessState)
		}
	}
}

// The command-line reader takes only our daemon's exact shape.
func TestParseDaemonArgs(t *testing.T) {
	t.Parallel()
	good := []string{"/usr/bin/nemoclaw", DaemonCommand, "--sandbox", "demo", "--port=18789", "--id", "x", "--forwards-dir", "/h/f"}
	if a, err := parseDaemonArgs(good); err != nil || a.sandbox != "demo" || a.port != 18789 || a.id != "x" || a.dir != "/h/f" {
		t.Errorf("parseDaemonArgs(%q) = %+v, %v", good, a, err)
	}
	bad := map[string][]string{
		"relative program":      {"nemoclaw", DaemonCommand, "--sandbox", "demo", "--port", "1", "--id", "x", "--forwards-dir", "/f"},
		"command not second":    {"/bin/nemoclaw", "--sandbox", "demo", DaemonCommand, "--port", "1", "--id", "x", "--forwards-dir", "/f"},
		"no forwards dir":       {"/bin/nemoclaw", DaemonCommand, "--sandbox", "demo", "--port", "1", "--id", "x"},
		"port out of range":     {"/bin/nemoclaw", DaemonCommand, "--sandbox", "demo", "--port", "70000", "--id", "x", "--forwards-dir", "/f"},
		"empty id":              {"/bin/nemoclaw", DaemonCommand, "--sandbox", "demo", "--port", "1", "--id=", "--forwards-dir", "/f"},
		"flag without a value":  {"/bin/nemoclaw", DaemonCommand, "--sandbox", "demo", "--port", "1", "--id", "x", "--forwards-dir"},
		"a grep for our daemon": {"/usr/bin/grep", "-r", DaemonCommand, "--sandbox", "demo"},
	}
	for why, argv := range bad {
		if a, err := parseDaemonArgs(argv); err == nil {
			t.Errorf("%s: %q accepted as %+v", why, argv, a)
		}
	}
}
