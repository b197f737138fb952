package jobs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
)

// Job 11, two recoveries of one crashed sandbox at once: exactly one
// relaunch, the other run told the recovery is in progress (75). From one
// machine the host's lock decides (both processes released at the same
// instant); from two machines (two HOMEs, one sandbox) the payload's own
// lock inside the sandbox does. The Ctrl-C half of the job (exit 130, no
// stray daemon, lock free) is e2e/cli's TestInterruptMidRun.
func TestJob11ConcurrentRecovers(t *testing.T) {
	harness.RequireLab(t)
	t.Parallel()
	op := harness.NewOperator(t)
	s := op.Up(t, "job11", lab.Options{})
	ctx := hangProtection(t, 5*time.Minute)

	// launchesSoFar counts the payload's launches in the selected log
	// (the runner cannot append to the gateway's own /tmp/gateway.log).
	launchesSoFar := func() int {
		b, err := os.ReadFile(s.HostPath("/tmp/gateway-recovery.log"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return launches(string(b), "OpenClaw")
	}

	t.Run("one machine, released together", func(t *testing.T) {
		if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		before := launchesSoFar()
		// Two shells wait on their stdin, then exec recover: writing to
		// both pipes releases them within microseconds of each other.
		type run struct {
			cmd    *exec.Cmd
			go_    *os.File
			stdout bytes.Buffer
		}
		var runs [2]*run
		for i := range runs {
			r := &run{}
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			r.cmd = exec.CommandContext(ctx, "sh", "-c", `read -r _ && exec "$0" "$@"`, harness.Bin("nemoclaw"), s.Name, "recover", "--json")
			r.cmd.Env = op.Env()
			r.cmd.Stdin, r.cmd.Stdout = pr, &r.stdout
			if err := r.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pr.Close()
			r.go_ = pw
			runs[i] = r
		}
		for _, r := range runs {
			r.go_.Write([]byte("go\n"))
			r.go_.Close()
		}
		var codes []int
		var docs []any
		for _, r := range runs {
			err := r.cmd.Wait()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			_, doc := decode(t, harness.Result{Code: code, Stdout: r.stdout.String()})
			codes = append(codes, code)
			docs = append(docs, doc)
		}
		got := append([]int(nil), codes...)
		sort.Ints(got)
		if got[0] != 0 || got[1] != 75 {
			t.Fatalf("exit codes %v, want one 0 and one 75\n%v", codes, docs)
		}
		winner, loser := docs[0], docs[1]
		if codes[0] == 75 {
			winner, loser = loser, winner
		}
		if o := harness.Field(loser, "outcome"); o != "in-progress" {
			t.Fatalf("the run that exited 75 reports %q, want in-progress", o)
		}
		if n := launchesSoFar() - before; n != 1 {
			t.Fatalf("%d gateway launches, want exactly 1", n)
		}
		_, nspid := mustGateway(t, s)
		if got := harness.Field(winner, "gateway.pid"); got != itoa(nspid) {
			t.Fatalf("the winner reports pid %s, the sandbox runs %d", got, nspid)
		}
	})

	t.Run("two machines, the payload's lock", func(t *testing.T) {
		// A second operator: its own HOME (its own host lock and forward
		// state), the same registry entry, so the same sandbox.
		other := harness.NewOperator(t)
		reg, err := os.ReadFile(registry.DefaultPath(op.Home))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(registry.DefaultPath(other.Home)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(registry.DefaultPath(other.Home), reg, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		before := launchesSoFar()
		// The first holds the sandbox's lock through a long settle window.
		first := exec.CommandContext(ctx, harness.Bin("nemoclaw"), s.Name, "recover", "--settle", "20s", "--json")
		first.Env = op.Env()
		var firstOut bytes.Buffer
		first.Stdout = &firstOut
		if err := first.Start(); err != nil {
			t.Fatal(err)
		}
		// Once the gateway it launched runs, the first payload is in its
		// settle window, holding its lock (taken before anything else).
		waitFor(t, ctx, "the first recovery to launch the gateway", func() bool {
			procs, _ := s.GatewayProcesses()
			return len(procs) > 0
		})
		r, doc := cli(t, ctx, other.Env(), "nemoclaw", s.Name, "recover", "--json")
		if r.Code != 75 {
			t.Fatalf("the second machine's recover: exit %d, want 75\n%s", r.Code, r)
		}
		wantFields(t, r, doc, "outcome=in-progress")
		if err := first.Wait(); err != nil {
			t.Fatalf("the first recover: %v\n%s", err, firstOut.String())
		}
		_, fdoc := decode(t, harness.Result{Stdout: firstOut.String()})
		wantFields(t, harness.Result{Stdout: firstOut.String()}, fdoc, "outcome=recovered")
		if n := launchesSoFar() - before; n != 1 {
			t.Fatalf("%d gateway launches, want exactly 1", n)
		}
		mustGateway(t, s)
	})
}

// waitFor polls cond until it holds; ctx is hang protection.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
