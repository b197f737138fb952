package jobs

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
)

// Job 2, crash cycles: five times in a row the gateway is killed with
// SIGKILL (a crash, an OOM kill) and `recover` brings it back (exit 0),
// each time as a new process: a recovery that reported success while the
// old gateway, or none, ran would repeat a PID or fail the guard check.
func TestJob02CrashCycles(t *testing.T) {
	harness.RequireLab(t)
	t.Parallel()
	s, env := harness.LabT(t, "job02", lab.Options{})
	ctx := hangProtection(t, 10*time.Minute)

	seen := map[int]bool{}
	_, first := mustGateway(t, s)
	seen[first] = true
	for cycle := 1; cycle <= 5; cycle++ {
		if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		noGateway(t, s)
		r, doc := cli(t, ctx, env, "nemoclaw", s.Name, "recover", "--json")
		if r.Code != 0 {
			t.Fatalf("cycle %d: recover exit %d, want 0\n%s", cycle, r.Code, r)
		}
		wantFields(t, r, doc, "outcome=recovered", "steps.gateway.status=changed")
		pid, nspid := mustGateway(t, s)
		if got := harness.Field(doc, "gateway.pid"); got != strconv.Itoa(nspid) {
			t.Fatalf("cycle %d: the report names pid %s, the sandbox runs %d", cycle, got, nspid)
		}
		if seen[nspid] {
			t.Fatalf("cycle %d: gateway pid %d again (pids so far %v): not a relaunch", cycle, nspid, seen)
		}
		seen[nspid] = true
		if err := harness.CheckGuardsInEnviron(pid); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
	}
}
