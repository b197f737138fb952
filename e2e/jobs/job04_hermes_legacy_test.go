package jobs

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
)

// Job 4, a Hermes sandbox whose entrypoint wrote the legacy proxy-env
// (proxy variables only: no NODE_OPTIONS guards, no staged preloads), so
// its gateway died at start: `nemohermes <name> recover` rebuilds the
// guard chain from the image's preloads and relaunches (exit 0), the
// gateway runs with both requires, and both forwarded ports answer from
// the host (the dashboard and the API on the sandbox's own hermesApiPort).
func TestJob04HermesLegacyProxyEnv(t *testing.T) {
	harness.RequireLab(t)
	t.Parallel()
	s, env := harness.LabT(t, "job04", lab.Options{Agent: lab.AgentHermes, LegacyProxyEnv: true})
	ctx := hangProtection(t, 5*time.Minute)

	legacy := rootSh(t, ctx, s, "cat /tmp/nemoclaw-proxy-env.sh")
	if strings.Contains(legacy, "NODE_OPTIONS") {
		t.Fatalf("the lab did not write the legacy proxy-env:\n%s", legacy)
	}
	r, doc := cli(t, ctx, env, "nemohermes", s.Name, "recover", "--json")
	if r.Code != 0 {
		t.Fatalf("nemohermes recover on the legacy proxy-env: exit %d, want 0\n%s", r.Code, r)
	}
	wantFields(t, r, doc, "agent=hermes", "outcome=recovered", "steps.guard_chain.status=changed", "steps.dashboard.status=ok")
	pid, nspid := mustGateway(t, s)
	if got := harness.Field(doc, "gateway.pid"); got != strconv.Itoa(nspid) {
		t.Fatalf("the report names pid %s, the sandbox runs %d", got, nspid)
	}
	if err := harness.CheckGuardsInEnviron(pid); err != nil {
		t.Fatal(err)
	}
	if log := gatewayLog(t, s, doc); !strings.Contains(log, "library guards from packaged preloads") {
		t.Fatalf("the log does not say the guards came from the packaged preloads:\n%s", log)
	}
	// From the host, through the forward: the dashboard and the API.
	if code, body := hostGet(t, ctx, s.Options.Port, "/"); code != 200 || !strings.Contains(body, "Hermes Agent") {
		t.Fatalf("dashboard on 127.0.0.1:%d: %d %.200q", s.Options.Port, code, body)
	}
	if code, body := hostGet(t, ctx, s.Options.APIPort, "/health"); code != 200 {
		t.Fatalf("Hermes API on 127.0.0.1:%d: %d %.200q", s.Options.APIPort, code, body)
	}
}
