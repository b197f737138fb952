package jobs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
)

// Job 15, the OpenShell path: the sandbox registered the way NemoClaw
// registers OpenShell sandboxes (no transport object), reached through
// `openshell sandbox ssh-config` of the lab's openshell shim (a TEST
// DOUBLE of the OpenShell CLI, not OpenShell), with the forward NemoClaw's
// onboard leaves behind (`openshell forward start --background <port>
// <name>`, a real ssh -L):
//
//   - that forward serves this sandbox: the guard-chain wipe of job 1 is
//     recovered (exit 0) and OpenShell's forward is healthy and left alone
//     (same ssh process, no `forward stop`, no daemon of ours on the port);
//   - the port's forward serves another sandbox: recover exits 4, prints
//     no dashboard URL, and that forward keeps running.
func TestJob15OpenShellPath(t *testing.T) {
	harness.RequireLab(t)
	t.Parallel()
	op := harness.NewOperator(t)
	s := op.Up(t, "job15", lab.Options{})
	other := op.Up(t, "job15-other", lab.Options{})
	ctx := hangProtection(t, 5*time.Minute)
	port := s.Options.Port

	shimDir := filepath.Join(t.TempDir(), "shim")
	shim, err := lab.WriteOpenShellShim(shimDir, lab.Options{Home: op.Home, LabDir: op.LabDir, LabBinary: harness.Bin("nemoclaw-lab")})
	if err != nil {
		t.Fatal(err)
	}
	// As NemoClaw registers OpenShell sandboxes: no transport object
	// (OpenShell is the default) and the OpenShell gateway's name, which
	// every openshell call then carries (-g).
	if err := registry.Update(registry.DefaultPath(op.Home), func(r *registry.Registry) error {
		for _, n := range []string{s.Name, other.Name} {
			r.Sandboxes[n].Transport, r.Sandboxes[n].GatewayName = nil, "nemoclaw"
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	env := append(op.Env(), "NEMOCLAW_OPENSHELL_BIN="+shim)
	openshell := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, shim, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openshell %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// forwardRow is `openshell forward list`'s row for sandbox and port:
	// its PID and status (ANSI colours stripped).
	forwardRow := func(sandbox string) (pid, status string) {
		t.Helper()
		for _, line := range strings.Split(stripANSI(openshell("forward", "list")), "\n") {
			f := strings.Fields(line)
			if len(f) >= 5 && f[0] == sandbox && f[2] == itoa(port) {
				return f[3], f[4]
			}
		}
		return "", ""
	}
	// Stop whatever the shim started, whatever the outcome.
	t.Cleanup(func() {
		for _, n := range []string{s.Name, other.Name} {
			cmd := exec.Command(shim, "forward", "stop", itoa(port), n)
			cmd.Env = env
			cmd.Run()
		}
	})

	t.Run("OpenShell's forward for this sandbox is kept", func(t *testing.T) {
		openshell("forward", "start", "--background", itoa(port), s.Name)
		pidBefore, status := forwardRow(s.Name)
		if pidBefore == "" || status != "running" {
			t.Fatalf("set-up: no running OpenShell forward row for %s on %d:\n%s", s.Name, port, openshell("forward", "list"))
		}
		rootSh(t, ctx, s, "rm -f /tmp/nemoclaw-proxy-env.sh /tmp/nemoclaw-*.js")
		killGatewayTree(t, ctx, s)

		r, doc := cli(t, ctx, env, "nemoclaw", s.Name, "connect", "--probe-only", "--json")
		if r.Code != 0 {
			t.Fatalf("connect --probe-only through OpenShell: exit %d, want 0\n%s", r.Code, r)
		}
		wantFields(t, r, doc, "outcome=recovered", "steps.guard_chain.status=changed", "steps.forward.status=ok",
			"steps.dashboard.status=ok", "dashboardUrl="+fmt.Sprintf("http://127.0.0.1:%d/", port))
		if d := harness.Field(doc, "steps.transport.detail"); !strings.Contains(d, "openshell") {
			t.Fatalf("transport %q: not through OpenShell's ssh-config\n%s", d, r)
		}
		if d := harness.Field(doc, "steps.forward.detail"); !strings.Contains(d, "OpenShell") {
			t.Fatalf("forward %q: not OpenShell's own\n%s", d, r)
		}
		pid, _ := mustGateway(t, s)
		if err := harness.CheckGuardsInEnviron(pid); err != nil {
			t.Fatal(err)
		}
		if pidAfter, status := forwardRow(s.Name); pidAfter != pidBefore || status != "running" {
			t.Fatalf("OpenShell's forward: pid %s %s after recovery, was %s running: not left alone", pidAfter, status, pidBefore)
		}
		argv, err := lab.ReadOpenShellArgv(shimDir)
		if err != nil || len(argv) == 0 {
			t.Fatalf("the shim's argv log: %v (%d calls)", err, len(argv))
		}
		{
			for _, a := range argv {
				for i := 0; i+1 < len(a); i++ {
					if a[i] == "forward" && a[i+1] == "stop" {
						t.Fatalf("recovery ran `openshell %s` on a healthy OpenShell forward", strings.Join(a, " "))
					}
				}
			}
		}
		if states, _ := os.ReadDir(filepath.Join(op.Home, ".nemoclaw", "state", "forwards")); len(states) > 0 {
			t.Fatalf("a forward of ours was recorded beside OpenShell's: %v", states)
		}
		if code, body := hostGet(t, ctx, port, "/"); code != 200 || !strings.Contains(body, "OpenClaw Control") {
			t.Fatalf("dashboard through OpenShell's forward: %d %.200q", code, body)
		}
	})

	t.Run("another sandbox's forward on the port is foreign", func(t *testing.T) {
		openshell("forward", "stop", itoa(port), s.Name)
		openshell("forward", "start", "--background", itoa(port), other.Name)
		otherPID, status := forwardRow(other.Name)
		if otherPID == "" || status != "running" {
			t.Fatalf("set-up: no running OpenShell forward row for %s on %d", other.Name, port)
		}
		r, doc := cli(t, ctx, env, "nemoclaw", s.Name, "recover", "--json")
		if r.Code != 4 {
			t.Fatalf("recover with another sandbox's OpenShell forward on %d: exit %d, want 4\n%s", port, r.Code, r)
		}
		if u := harness.Field(doc, "dashboardUrl"); u != "" {
			t.Fatalf("dashboardUrl %q printed for a port another sandbox holds", u)
		}
		human := harness.Run(t, ctx, env, "nemoclaw", s.Name, "recover")
		// The gateway's own health URL inside the sandbox may be named;
		// the dashboard URL never is.
		dashboardURL := regexp.MustCompile(fmt.Sprintf(`(?m)http://127\.0\.0\.1:%d/($|[^h])`, port))
		if human.Code != 4 || dashboardURL.MatchString(human.Stdout+human.Stderr) || strings.Contains(human.Stdout, "Dashboard:") {
			t.Fatalf("recover printed the dashboard URL (or did not exit 4):\n%s", human)
		}
		if pid, status := forwardRow(other.Name); pid != otherPID || status != "running" {
			t.Fatalf("the other sandbox's forward: pid %s %s, was %s running: it must be left alone", pid, status, otherPID)
		}
	})
}

// stripANSI removes colour escapes (OpenShell colours its status column).
func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
