package jobs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// Job 12, a host reboot's worth of crashed gateways: ten sandboxes in one
// registry, every gateway killed, one `recover --all` brings them all
// back (exit 0, a recovered row for each), each with its own guarded
// gateway and its dashboard answering on its own host port.
func TestJob12RecoverAllTen(t *testing.T) {
	harness.RequireLab(t)
	t.Parallel()
	op := harness.NewOperator(t)
	ctx := hangProtection(t, 10*time.Minute)

	// Brought up side by side (lab.Up is safe for that; each takes a
	// registry lock to register).
	sbs := make([]*lab.Sandbox, 10)
	errs := make([]error, 10)
	var wg sync.WaitGroup
	for i := range sbs {
		port := testenv.FreePort(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			upCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			sbs[i], errs[i] = lab.Up(upCtx, lab.Options{Name: fmt.Sprintf("job12-%d", i), Port: port,
				Home: op.Home, LabDir: op.LabDir, LabBinary: harness.Bin("nemoclaw-lab")})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("lab up job12-%d: %v", i, err)
		}
		s := sbs[i]
		t.Cleanup(func() { s.Down() })
	}
	for _, s := range sbs {
		if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}

	r, doc := cli(t, ctx, op.Env(), "nemoclaw", "recover", "--all", "--json")
	if r.Code != 0 {
		t.Fatalf("recover --all: exit %d, want 0\n%s", r.Code, r)
	}
	for _, s := range sbs {
		wantFields(t, r, doc, "runs."+s.Name+".exitCode=0", "runs."+s.Name+".outcome=recovered")
		pid, nspid := mustGateway(t, s)
		if got := harness.Field(doc, "runs."+s.Name+".gateway.pid"); got != itoa(nspid) {
			t.Fatalf("%s: the report names pid %s, the sandbox runs %d", s.Name, got, nspid)
		}
		if err := harness.CheckGuardsInEnviron(pid); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if code, body := hostGet(t, ctx, s.Options.Port, "/"); code != 200 || !strings.Contains(body, "OpenClaw Control") {
			t.Fatalf("%s: dashboard on 127.0.0.1:%d: %d %.200q", s.Name, s.Options.Port, code, body)
		}
	}
}
