package jobs

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/portforward"
)

// Job 10, sshd restarted under a live forward: the dashboard stops
// answering while sshd is gone, and once sshd is back it answers again on
// the same host port, served by the same forward daemon, which says it
// reconnected — with nothing run by the user in between.
func TestJob10SSHDRestartUnderForward(t *testing.T) {
	harness.RequireLab(t)
	t.Parallel()
	s, env := harness.LabT(t, "job10", lab.Options{})
	ctx := hangProtection(t, 5*time.Minute)
	port := s.Options.Port

	if r, _ := cli(t, ctx, env, "nemoclaw", s.Name, "recover", "--json"); r.Code != 0 {
		t.Fatalf("recover: exit %d\n%s", r.Code, r)
	}
	if code, body := hostGet(t, ctx, port, "/"); code != 200 || !strings.Contains(body, "OpenClaw Control") {
		t.Fatalf("dashboard before the restart: %d %.200q", code, body)
	}
	statePath := portforward.PathsFor(filepath.Join(s.Options.Home, ".nemoclaw", "state", "forwards"), s.Name, port).State
	daemon, err := portforward.ReadState(statePath)
	if err != nil {
		t.Fatal(err)
	}

	// Every sshd in the sandbox: the listener and the forward's session.
	rootSh(t, ctx, s, "pkill -x sshd; while pgrep -x sshd >/dev/null; do sleep 0.05; done")
	if code, body := hostGet(t, ctx, port, "/"); code == 200 {
		t.Fatalf("the dashboard answered with sshd gone (%.200q): the kill did not reach the forward's connection", body)
	}
	// sshd back, as the pod's supervisor would start it (daemon mode,
	// the lab's own config and host key: the pinned key still matches).
	rootSh(t, ctx, s, "/usr/sbin/sshd -f /run/nemoclaw-lab/state/sshd_config -E /run/nemoclaw-lab/state/log/sshd.log")

	// No command from here on: only the daemon can bring the page back.
	var code int
	var body string
	for {
		if code, body = hostGet(t, ctx, port, "/"); code == 200 && strings.Contains(body, "OpenClaw Control") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the dashboard never answered after sshd came back: last %d %.200q\nforward log:\n%s", code, body,
				tailFile(portforward.PathsFor(filepath.Join(s.Options.Home, ".nemoclaw", "state", "forwards"), s.Name, port).Log, 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
	now, err := portforward.ReadState(statePath)
	if err != nil || now.PID != daemon.PID || now.ID != daemon.ID {
		t.Fatalf("forward daemon after the restart: %+v, %v; want the same daemon as before, %+v", now, err, daemon)
	}
	r, doc := cli(t, ctx, env, "nemoclaw", s.Name, "forward", "status", "--json")
	if r.Code != 0 {
		t.Fatalf("forward status: exit %d\n%s", r.Code, r)
	}
	if n := harness.Field(doc, "forwards.0.counters.reconnects"); n == "" || n == "0" {
		t.Fatalf("the daemon reports %q reconnects, want at least one\n%s", n, r)
	}
}
