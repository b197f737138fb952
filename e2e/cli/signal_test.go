package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/internal/statefs"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
	"github.com/nemoclaw/nemoclaw-go/portforward"
)

// Ctrl-C in the middle of a recovery: exit 130, the run lock free at once,
// no forward daemon left half-started, and the sandbox's own recovery lock
// released (the next recover runs, it does not get 75).
func TestInterruptMidRun(t *testing.T) {
	harness.RequireLab(t)
	t.Parallel()
	s, env := harness.LabT(t, "sigint", lab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // hang protection
	defer cancel()
	if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A long settle window keeps the payload busy after the launch: the
	// interrupt lands while it waits, inside the sandbox.
	cmd := exec.Command(harness.Bin("nemoclaw"), s.Name, "recover", "--settle", "30s")
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the payload has launched the gateway (it then settles).
	interruptAtLaunch(ctx, t, s, cmd, &out)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("recover after SIGINT: %v, want exit 130\n%s", err, out.String())
	}
	lockPath := filepath.Join(s.Options.Home, ".nemoclaw", "state", "locks", s.Name+".lock")
	l, err := statefs.TryLock(lockPath)
	if err != nil {
		t.Fatalf("the run lock is still held after exit 130: %v", err)
	}
	l.Unlock()
	dir := filepath.Join(s.Options.Home, ".nemoclaw", "state", "forwards")
	if states, _ := portforward.ListStates(dir); len(states) > 0 {
		t.Fatalf("an interrupted run left a forward record: %+v", states)
	}
	if h, held := portforward.PortHolder(s.Options.Port); held {
		t.Fatalf("an interrupted run left a listener on %d: %+v", s.Options.Port, h)
	}
	if pids := harness.ProcessesWith("forward-daemon", "--port "+strconv.Itoa(s.Options.Port)+" "); len(pids) > 0 {
		t.Fatalf("forward daemon processes left: %v", pids)
	}

	// The payload in the sandbox was told to stop too: its lock is free
	// and the next recovery runs to the end.
	again := exec.Command(harness.Bin("nemoclaw"), s.Name, "recover", "--settle", "0")
	again.Env = env
	b, err := again.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "Probe complete") {
		t.Fatalf("recover after the interrupted one: %v\n%s", err, b)
	}
}

// Ctrl-C during recover --all: the run in flight stops (130), the ones not
// started never start, and the exit code is 130.
func TestInterruptRecoverAll(t *testing.T) {
	harness.RequireLab(t)
	t.Parallel()
	a, env := harness.LabT(t, "siga", lab.Options{})
	// A second sandbox in the same HOME and lab dir.
	o := a.Options
	o.Name = "sigb"
	o.Port = testenv.FreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // hang protection
	defer cancel()
	b, err := lab.Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Down()
	for _, s := range []*lab.Sandbox{a, b} {
		if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(harness.Bin("nemoclaw"), "recover", "--all", "--parallel", "1", "--settle", "30s", "--json")
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The first sandbox (siga, by name) is being recovered once its
	// gateway runs again; the second has not started.
	interruptAtLaunch(ctx, t, a, cmd, &out)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("recover --all after SIGINT: %v, want 130\n%s", err, out.String())
	}
	var rep struct {
		ExitCode int `json:"exitCode"`
		Runs     []struct {
			Sandbox  string `json:"sandbox"`
			ExitCode int    `json:"exitCode"`
			Error    string `json:"error"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Runs) != 2 {
		t.Fatalf("not one report with two runs: %v\n%s", err, out.String())
	}
	if rep.Runs[1].Sandbox != "sigb" || rep.Runs[1].ExitCode != 130 || !strings.Contains(rep.Runs[1].Error, "not started") {
		t.Errorf("the second sandbox: %+v, want not started (130)", rep.Runs[1])
	}
	if gw, _ := b.GatewayProcesses(); len(gw) > 0 {
		t.Errorf("the sandbox that never started was recovered anyway: %v", gw)
	}
	if pids := harness.ProcessesWith("forward-daemon", "--sandbox sigb "); len(pids) > 0 {
		t.Errorf("a forward daemon was started for the sandbox never recovered: %v", pids)
	}
}

// interruptAtLaunch sends SIGINT to cmd as soon as a gateway runs in s
// again (the recovery launched it and now waits in its settle window).
func interruptAtLaunch(ctx context.Context, t *testing.T, s *lab.Sandbox, cmd *exec.Cmd, out *bytes.Buffer) {
	t.Helper()
	for {
		gw, err := s.GatewayProcesses()
		if err != nil {
			t.Fatal(err)
		}
		if len(gw) > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the recovery never launched the gateway in %s:\n%s", s.Name, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
}
