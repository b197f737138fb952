package jobs

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/templates"
)

// Job 1, the CI guard-chain wipe: the entrypoint's proxy-env and every
// staged preload removed from /tmp and the gateway's whole process tree
// killed; `nemoclaw <name> connect --probe-only` repairs it (exit 0). The
// relaunched gateway carries both exact --require tokens in its
// environment (and, being the stub, would have exited within a second
// without both preloads loaded), the log says the guards were restored
// from the packaged preloads and never "launching without", and the
// reported PID is the one that stays running through a settle window
// watched from the host after the command returned.
func TestJob01GuardChainWipe(t *testing.T) {
	harness.RequireLab(t)
	t.Parallel()
	s, env := harness.LabT(t, "job01", lab.Options{})
	ctx := hangProtection(t, 5*time.Minute)

	rootSh(t, ctx, s, "rm -f /tmp/nemoclaw-proxy-env.sh /tmp/nemoclaw-*.js")
	if left := rootSh(t, ctx, s, "ls -d /tmp/nemoclaw-proxy-env.sh /tmp/nemoclaw-*.js 2>/dev/null || true"); left != "" {
		t.Fatalf("the wipe left %q", left)
	}
	killGatewayTree(t, ctx, s)
	noGateway(t, s)

	r, doc := cli(t, ctx, env, "nemoclaw", s.Name, "connect", "--probe-only", "--json")
	if r.Code != 0 {
		t.Fatalf("connect --probe-only after the wipe: exit %d, want 0\n%s", r.Code, r)
	}
	wantFields(t, r, doc, "outcome=recovered", "steps.guard_chain.status=changed", "steps.gateway.status=changed",
		"steps.gateway.checks.settle.status=ok", "steps.dashboard.status=ok")
	reported, err := strconv.Atoi(harness.Field(doc, "gateway.pid"))
	if err != nil {
		t.Fatalf("gateway.pid: %v\n%s", err, r)
	}

	pid, nspid := mustGateway(t, s)
	if nspid != reported {
		t.Fatalf("the report names gateway pid %d, the sandbox runs %d", reported, nspid)
	}
	if err := harness.CheckGuardsInEnviron(pid); err != nil {
		t.Fatal(err)
	}
	log := gatewayLog(t, s, doc)
	if !strings.Contains(log, "restoring library guards from packaged preloads") {
		t.Fatalf("the log lacks 'restoring library guards from packaged preloads':\n%s", log)
	}
	if strings.Contains(log, "launching without") {
		t.Fatalf("the log has the unguarded-launch line:\n%s", log)
	}
	// The guard chain is back in /tmp, read-only: the staged preloads, and
	// the proxy-env the image's shell hooks source, recreated (SPEC §5.3)
	// with the guards' requires.
	for _, f := range []string{"/tmp/nemoclaw-sandbox-safety-net.js", "/tmp/nemoclaw-ciao-network-guard.js", "/tmp/nemoclaw-proxy-env.sh"} {
		if facts := fileFacts(t, ctx, s, f); !strings.Contains(facts, " 444 ") {
			t.Errorf("%s after recovery: %q, want a 0444 file", f, facts)
		}
	}
	if env := rootSh(t, ctx, s, "cat /tmp/nemoclaw-proxy-env.sh"); !strings.Contains(env, "/tmp/nemoclaw-sandbox-safety-net.js") || !strings.Contains(env, "/tmp/nemoclaw-ciao-network-guard.js") {
		t.Errorf("the recreated /tmp/nemoclaw-proxy-env.sh lacks the guards:\n%s", env)
	}

	// The settle window, watched from the host after the command: the same
	// process (host pid and sandbox pid) the whole time, and no other.
	deadline := time.Now().Add(templates.DefaultSettle)
	for polls := 0; time.Now().Before(deadline); polls++ {
		p, n, err := harness.GatewayPID(s)
		if err != nil || p != pid || n != nspid {
			t.Fatalf("after %d polls in the settle window: gateway %d/%d, %v; want %d/%d throughout", polls, p, n, err, pid, nspid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := fmt.Sprint(launches(log, "OpenClaw")); got != "1" {
		t.Fatalf("%s gateway launches in the log, want 1:\n%s", got, log)
	}
}
