package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
	"github.com/nemoclaw/nemoclaw-go/portforward"
)

// daemonLog is the forward daemon's log, for what it says about its exit.
func daemonLog(t *testing.T, st portforward.State) string {
	t.Helper()
	b, err := os.ReadFile(st.Log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// portReleased fails t when anything still listens on port, or a daemon
// process for it is left.
func portReleased(t *testing.T, bin string, port int) {
	t.Helper()
	if h, held := portforward.PortHolder(port); held {
		t.Errorf("port %d still has a listener: pid %d %q", port, h.PID, h.Command)
	}
	if pids := daemonsFor(bin, port); len(pids) > 0 {
		t.Errorf("forward daemons left for port %d: %v", port, pids)
	}
}

// SPEC §6, no orphans: a daemon that is no longer recorded, or whose
// sandbox was deleted, exits by itself and frees the port. Real daemons
// (the built nemoclaw), real sshd, a real lab sandbox behind the OpenShell
// test double.
func TestForwardDaemonExitsByItself(t *testing.T) {
	t.Parallel()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, sshdtest.SSHD)
	bin := buildNemoclaw(t)

	// The operator deletes ~/.nemoclaw while the SSH connection stays up:
	// the periodic check (default period) ends the daemon.
	t.Run("NemoclawDirDeletedWhileConnected", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		if code, out, errOut := e.run("demo", "forward", "start"); code != 0 {
			t.Fatalf("start: %d\n%s%s", code, out, errOut)
		}
		st := e.state("demo", e.port)
		if err := os.RemoveAll(filepath.Join(e.home, ".nemoclaw")); err != nil {
			t.Fatal(err)
		}
		waitGone(t, st.PID)
		portReleased(t, bin, e.port)
	})

	// Only the record removed: the log stays and says why, and that it was
	// the periodic check (every 10 s by default) that found out.
	t.Run("StateRecordDeletedWhileConnected", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		if code, out, errOut := e.run("demo", "forward", "start"); code != 0 {
			t.Fatalf("start: %d\n%s%s", code, out, errOut)
		}
		st := e.state("demo", e.port)
		if err := os.Remove(portforward.PathsFor(e.forwardsDir(), "demo", e.port).State); err != nil {
			t.Fatal(err)
		}
		waitGone(t, st.PID)
		portReleased(t, bin, e.port)
		if log := daemonLog(t, st); !strings.Contains(log, "is gone: this forward daemon is orphaned (periodic check, every 10s)") {
			t.Errorf("the daemon's log does not say why it exited:\n%s", log)
		}
		if _, err := os.Stat(st.Control); err == nil {
			t.Errorf("control socket %s left behind", st.Control)
		}
	})

	// The record is rewritten to name another daemon; the periodic check
	// is an hour away, so it is the check before the reconnect (sshd
	// restarted) that ends it. The other daemon's record is left alone.
	t.Run("RecordNamesAnotherDaemon", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		e.env["NEMOCLAW_FORWARD_RECORD_CHECK"] = "1h"
		if code, out, errOut := e.run("demo", "forward", "start"); code != 0 {
			t.Fatalf("start: %d\n%s%s", code, out, errOut)
		}
		st := e.state("demo", e.port)
		other := st
		other.ID = "another-daemon"
		if err := portforward.WriteState(portforward.PathsFor(e.forwardsDir(), "demo", e.port).State, other); err != nil {
			t.Fatal(err)
		}
		e.srv.Restart()
		waitGone(t, st.PID)
		portReleased(t, bin, e.port)
		log := daemonLog(t, st)
		if !strings.Contains(log, "names forward id another-daemon") || !strings.Contains(log, "checked before reconnecting") {
			t.Errorf("the daemon's log does not say why it exited:\n%s", log)
		}
		if got := e.state("demo", e.port); got.ID != "another-daemon" {
			t.Errorf("the record naming another daemon was changed: %+v", got)
		}
	})
}

// An OpenShell sandbox deleted under its forward (the lab's OpenShell test
// double then answers `sandbox get` with NotFound, and the SSH session dies
// with the sandbox): the daemon's reconnect learns the sandbox is gone and
// the daemon exits instead of retrying forever. The registry names a
// gateway, so every openshell call the daemon made carries -g.
func TestForwardDaemonExitsWhenOpenShellSandboxIsDeleted(t *testing.T) {
	t.Parallel()
	testenv.RequireRoot(t)
	for _, b := range []string{sshdtest.SSHD, "ssh", "node", "unshare", "nsenter"} {
		testenv.RequireBinary(t, b)
	}
	bin := buildNemoclaw(t)
	base := t.TempDir()
	port := testenv.FreePort(t)
	o := lab.Options{Name: "fwdgone", Home: filepath.Join(base, "home"), LabDir: filepath.Join(base, "lab"), Port: port}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang protection
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
	shimDir := filepath.Join(base, "shim")
	shim, err := lab.WriteOpenShellShim(shimDir, o)
	if err != nil {
		t.Fatal(err)
	}
	// An OpenShell sandbox: no transport object, and NemoClaw's gateway.
	if err := registry.Update(registry.DefaultPath(o.Home), func(r *registry.Registry) error {
		r.Sandboxes["fwdgone"].Transport = nil
		r.Sandboxes["fwdgone"].GatewayName = lab.LabGateway
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e := &forwardEnv{t: t, bin: bin, home: o.Home, port: port, env: map[string]string{
		"HOME": o.Home, "NEMOCLAW_FORWARD_BINARY": bin, "PATH": os.Getenv("PATH"),
		"NEMOCLAW_OPENSHELL_BIN": shim, "NEMOCLAW_FORWARD_RECORD_CHECK": "1h",
	}}
	t.Cleanup(e.killDaemons)

	if code, m := e.runJSON("fwdgone", "forward", "start"); code != 0 || m["state"] != "healthy" {
		t.Fatalf("forward start over OpenShell: exit %d, %v", code, m)
	}
	st := e.state("fwdgone", port)
	if err := sb.Down(); err != nil {
		t.Fatalf("deleting the sandbox: %v", err)
	}
	waitGone(t, st.PID)
	portReleased(t, bin, port)
	log := daemonLog(t, st)
	if !strings.Contains(log, "sandbox fwdgone no longer exists") || !strings.Contains(log, "NotFound") {
		t.Errorf("the daemon's log does not say the sandbox is gone:\n%s", log)
	}
	if _, err := os.Stat(st.Control); err == nil {
		t.Errorf("control socket %s left behind", st.Control)
	}
	calls, err := lab.ReadOpenShellArgv(shimDir)
	if err != nil {
		t.Fatal(err)
	}
	gets := 0
	for _, c := range calls {
		if len(c) < 2 || c[0] != "-g" || c[1] != lab.LabGateway {
			t.Errorf("openshell called without -g %s: %q", lab.LabGateway, c)
		}
		if strings.Join(c, " ") == "-g nemoclaw sandbox get fwdgone" {
			gets++
		}
	}
	// The daemon's first connect, then the reconnect that found it gone.
	if gets < 2 {
		t.Errorf("sandbox get ran %d times, want the daemon's first connect's and its reconnect's:\n%q", gets, calls)
	}
}

// orphanOf starts demo's forward with a daemon that will not notice for an
// hour that it is orphaned (as one from an older nemoclaw never would),
// then deletes its record: a daemon of ours that only its process shows.
func orphanOf(t *testing.T, e *forwardEnv) portforward.State {
	t.Helper()
	e.env["NEMOCLAW_FORWARD_RECORD_CHECK"] = "1h"
	if code, out, errOut := e.run("demo", "forward", "start"); code != 0 {
		t.Fatalf("start: %d\n%s%s", code, out, errOut)
	}
	st := e.state("demo", e.port)
	if err := os.Remove(portforward.PathsFor(e.forwardsDir(), "demo", e.port).State); err != nil {
		t.Fatal(err)
	}
	return st
}

// `forward list` finds our daemons by process as well as by record, and
// `forward stop|start` end an orphan of ours; processes that are not our
// daemons are neither listed nor signalled.
func TestForwardOrphans(t *testing.T) {
	t.Parallel()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, sshdtest.SSHD)
	bin := buildNemoclaw(t)

	t.Run("ListShowsItAndStopEndsIt", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		st := orphanOf(t, e)
		code, list, out := e.forwardList()
		errOut := ""
		if code != 0 || len(list) != 1 ||
			list[0]["state"] != "orphan" || list[0]["pid"] != float64(st.PID) || list[0]["id"] != st.ID ||
			list[0]["sandbox"] != "demo" || list[0]["port"] != float64(e.port) {
			t.Fatalf("forward list --json with an orphan: exit %d\n%s%s", code, out, errOut)
		}
		if _, human, _ := e.run("forward", "list"); !strings.Contains(human, "orphan") || !strings.Contains(human, fmt.Sprintf("pid %d", st.PID)) {
			t.Errorf("forward list does not show the orphan:\n%s", human)
		}
		// status: ours but unrecorded is not healthy, and carries no URL.
		if code, m := e.runJSON("demo", "forward", "status"); code != exitcode.Forward || m["state"] != "orphan" || m["url"] != nil {
			t.Errorf("status of an orphan: exit %d, %v", code, m)
		}
		code, m := e.runJSON("demo", "forward", "stop")
		if code != 0 || m["action"] != "stopped" || m["pid"] != float64(st.PID) {
			t.Fatalf("stop of an orphan: exit %d, %v", code, m)
		}
		waitGone(t, st.PID)
		portReleased(t, bin, e.port)
		if code, out, _ := e.run("forward", "list"); code != 0 || !strings.Contains(out, "No forwards recorded") {
			t.Errorf("forward list after stopping the orphan: exit %d\n%s", code, out)
		}
	})

	// ~/.nemoclaw deleted whole (registry, records, sockets, logs): list
	// and stop still find the daemon by its process.
	t.Run("NemoclawDirDeleted", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		st := orphanOf(t, e)
		if err := os.RemoveAll(filepath.Join(e.home, ".nemoclaw")); err != nil {
			t.Fatal(err)
		}
		code, list, out := e.forwardList()
		errOut := ""
		if code != 0 || len(list) != 1 || list[0]["state"] != "orphan" || list[0]["pid"] != float64(st.PID) {
			t.Fatalf("forward list with ~/.nemoclaw deleted: exit %d\n%s%s", code, out, errOut)
		}
		if code, m := e.runJSON("demo", "forward", "stop"); code != 0 || m["action"] != "stopped" || m["pid"] != float64(st.PID) {
			t.Fatalf("stop with ~/.nemoclaw deleted: exit %d, %v", code, m)
		}
		waitGone(t, st.PID)
		portReleased(t, bin, e.port)
	})

	// start finds the orphan holding the port, ends it, and starts ours.
	t.Run("StartReplacesIt", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		st := orphanOf(t, e)
		code, m := e.runJSON("demo", "forward", "start")
		if code != 0 || m["action"] != "replaced" || m["state"] != "healthy" || m["pid"] == float64(st.PID) {
			t.Fatalf("start over an orphan: exit %d, %v", code, m)
		}
		waitGone(t, st.PID)
		mustReach(t, e.port)
	})

	// The sandbox is gone from the registry as well as the record: stop
	// still finds the daemon by its process.
	t.Run("UnregisteredSandboxOrphanIsStopped", func(t *testing.T) {
		t.Parallel()
		e := newForwardEnv(t, bin)
		st := orphanOf(t, e)
		reg := filepath.Join(e.home, ".nemoclaw", "sandboxes.json")
		if err := os.WriteFile(reg, []byte(`{"sandboxes": {}, "defaultSandbox": null}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, m := e.runJSON("demo", "forward", "stop"); code != 0 || m["action"] != "stopped" || m["pid"] != float64(st.PID) {
			t.Fatalf("stop of an unregistered sandbox's orphan: exit %d, %v", code, m)
		}
		waitGone(t, st.PID)
		portReleased(t, bin, e.port)
	})

	// A process that is not a forward daemon holds the port, and another
	// carries our daemon's words in its argv: `forward list` shows neither
	// as ours, `forward stop` signals neither, `forward start` stops with 4.
	t.Run("NonDaemonsAreNeverSignalled", func(t *testing.T) {
		t.Parallel()
		socat := testenv.RequireBinary(t, "socat")
		e := newForwardEnv(t, bin)
		p := strconv.Itoa(e.port)
		squatter := exec.Command(socat, "TCP-LISTEN:"+p+",bind=127.0.0.1,reuseaddr,fork", "SYSTEM:echo foreign")
		// sh running a script named forward-daemon, with argv[0] set to our
		// binary: /proc shows exactly our daemon's command line.
		scripts := t.TempDir()
		if err := os.WriteFile(filepath.Join(scripts, "forward-daemon"), []byte("sleep 300; :\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		lookalike := &exec.Cmd{Path: "/bin/sh", Dir: scripts, Args: []string{bin, "forward-daemon", "--sandbox", "demo",
			"--port", p, "--id", "lookalike", "--forwards-dir", e.forwardsDir()}}
		for _, c := range []*exec.Cmd{squatter, lookalike} {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		}
		waitListening(t, e.port)
		if args, _ := portforward.ProcessArgs(lookalike.Process.Pid); len(args) < 2 || args[0] != bin || args[1] != "forward-daemon" {
			t.Fatalf("the lookalike's command line is %q, not our daemon's", args)
		}

		code, list, out := e.forwardList()
		errOut := ""
		if code != 0 || len(list) != 0 {
			t.Errorf("forward list shows a process that is not ours: exit %d\n%s%s", code, out, errOut)
		}
		if code, m := e.runJSON("demo", "forward", "stop"); code != 0 || m["action"] != "none" {
			t.Errorf("stop with a foreign listener: exit %d, %v", code, m)
		}
		if code, m := e.runJSON("demo", "forward", "start"); code != exitcode.Forward || m["state"] != "foreign" {
			t.Errorf("start with a foreign listener: exit %d, %v", code, m)
		}
		for _, c := range []*exec.Cmd{squatter, lookalike} {
			if !alive(c.Process.Pid) {
				t.Errorf("%v was signalled", c.Args)
			}
		}
	})
}
