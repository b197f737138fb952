package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
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
	port := freeLoopbackPort(t)
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
