package jobs

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
)

// Job 8, a non-root runner facing the root entrypoint's proxy-env
// (root:root 0444): NemoClaw refuses here; we recover (SPEC §5.3, §10.2).
// The runner writes its own recovered env, leaves the root file byte for
// byte as it was, and the relaunched gateway (as the runner) has both
// requires.
func TestJob08NonRootRootOwnedProxyEnv(t *testing.T) {
	harness.RequireLab(t)
	t.Parallel()
	s, env := harness.LabT(t, "job08", lab.Options{ExecUser: lab.UserSandbox, EntrypointMode: lab.EntrypointRoot})
	ctx := hangProtection(t, 5*time.Minute)
	const proxyEnv = "/tmp/nemoclaw-proxy-env.sh"

	before := fileFacts(t, ctx, s, proxyEnv)
	if !strings.HasPrefix(before, "0 444 ") {
		t.Fatalf("set-up: %s is %s, want root 0444", proxyEnv, before)
	}
	if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r, doc := cli(t, ctx, env, "nemoclaw", s.Name, "recover", "--json")
	if r.Code != 0 {
		t.Fatalf("recover as sandbox with a root-owned proxy-env: exit %d, want 0\n%s", r.Code, r)
	}
	wantFields(t, r, doc, "outcome=recovered", "steps.gateway.status=changed")
	pid, nspid := mustGateway(t, s)
	if got := harness.Field(doc, "gateway.pid"); got != strconv.Itoa(nspid) {
		t.Fatalf("the report names pid %s, the sandbox runs %d", got, nspid)
	}
	if err := harness.CheckGuardsInEnviron(pid); err != nil {
		t.Fatal(err)
	}
	if uid := strings.Fields(rootSh(t, ctx, s, "stat -c %u /proc/"+strconv.Itoa(nspid)))[0]; uid != "1001" {
		t.Fatalf("the gateway runs as uid %s, want the runner (1001)", uid)
	}
	if after := fileFacts(t, ctx, s, proxyEnv); after != before {
		t.Fatalf("the root-owned %s changed: %s, was %s", proxyEnv, after, before)
	}
	if got := fileFacts(t, ctx, s, "/tmp/nemoclaw-recovered-proxy-env.sh"); !strings.HasPrefix(got, "1001 444 ") {
		t.Fatalf("the recovered env is %s, want the runner's (1001) and 0444", got)
	}
	if log := gatewayLog(t, s, doc); strings.Contains(log, "refusing") {
		t.Fatalf("the log holds a refusal:\n%s", log)
	}
}
