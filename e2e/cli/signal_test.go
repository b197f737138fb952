package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/internal/statefs"
	"github.com/nemoclaw/nemoclaw-go/portforward"
)

// labT brings up a lab sandbox in a private HOME and lab dir and takes it
// (and every forward daemon recorded in that HOME) down when the test ends.
func labT(t testing.TB, name string, o lab.Options) (*lab.Sandbox, []string) {
	t.Helper()
	base := t.TempDir()
	o.Name = name
	o.Home = filepath.Join(base, "home")
	o.LabDir = filepath.Join(base, "lab")
	o.LabBinary = filepath.Join(binDir, "nemoclaw-lab")
	if o.Port == 0 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		o.Port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang protection
	defer cancel()
	s, err := lab.Up(ctx, o)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		cleanup(o.Home, o.LabDir)
		s.Down()
	})
	env := append(os.Environ(), "HOME="+o.Home, "NEMOCLAW_LAB_DIR="+o.LabDir, "NO_COLOR=1")
	return s, env
}

// Ctrl-C in the middle of a recovery: exit 130, the run lock free at once,
// no forward daemon left half-started, and the sandbox's own recovery lock
// released (the next recover runs, it does not get 75).
func TestInterruptMidRun(t *testing.T) {
	requireLab(t)
	t.Parallel()
	s, env := labT(t, "sigint", lab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // hang protection
	defer cancel()
	if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A long settle window keeps the payload busy after the launch: the
	// interrupt lands while it waits, inside the sandbox.
	cmd := exec.Command(filepath.Join(binDir, "nemoclaw"), s.Name, "recover", "--settle", "30s")
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
	if pids := processesWith("forward-daemon", "--port "+strconv.Itoa(s.Options.Port)+" "); len(pids) > 0 {
		t.Fatalf("forward daemon processes left: %v", pids)
	}

	// The payload in the sandbox was told to stop too: its lock is free
	// and the next recovery runs to the end.
	again := exec.Command(filepath.Join(binDir, "nemoclaw"), s.Name, "recover", "--settle", "0")
	again.Env = env
	b, err := again.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "Probe complete") {
		t.Fatalf("recover after the interrupted one: %v\n%s", err, b)
	}
}

// processesWith lists host pids whose command line holds every part.
func processesWith(parts ...string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		cl := strings.ReplaceAll(string(b), "\x00", " ")
		all := true
		for _, p := range parts {
			all = all && strings.Contains(cl, p)
		}
		if all {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Ctrl-C during recover --all: the run in flight stops (130), the ones not
// started never start, and the exit code is 130.
func TestInterruptRecoverAll(t *testing.T) {
	requireLab(t)
	t.Parallel()
	a, env := labT(t, "siga", lab.Options{})
	// A second sandbox in the same HOME and lab dir.
	o := a.Options
	o.Name = "sigb"
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
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
	cmd := exec.Command(filepath.Join(binDir, "nemoclaw"), "recover", "--all", "--parallel", "1", "--settle", "30s", "--json")
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
	if pids := processesWith("forward-daemon", "--sandbox sigb "); len(pids) > 0 {
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
