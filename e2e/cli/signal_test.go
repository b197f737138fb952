package cli

import (
	"bytes"
	"context"
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
	// Wait until the payload has launched the gateway (it then settles).
	for {
		gw, err := s.GatewayProcesses()
		if err != nil {
			t.Fatal(err)
		}
		if len(gw) > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the recovery never launched the gateway:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
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
