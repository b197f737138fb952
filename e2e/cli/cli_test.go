// Package cli runs the operator's commands — recover, connect --probe-only,
// status, diagnose, dashboard, list, recover --all — as a user types them,
// against real lab sandboxes (real sshd in Linux namespaces, real sh, the
// real forward daemon), as testscript scenarios in testdata/. The binaries
// are built once, exactly as `make build` builds them; every script gets an
// empty HOME and its own lab directory.
package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
	"github.com/nemoclaw/nemoclaw-go/internal/statefs"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
	"github.com/nemoclaw/nemoclaw-go/portforward"
)

func TestMain(m *testing.M) {
	code := harness.Main(m)
	// The benchmarks' figures, once each, after all have run.
	names := make([]string, 0, len(benchLines))
	for n := range benchLines {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Println(benchLines[n])
	}
	os.Exit(code)
}

func TestScenarios(t *testing.T) {
	harness.RequireLab(t)
	schema, err := harness.CompileSchema()
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			home := filepath.Join(env.WorkDir, "home")
			labDir := filepath.Join(env.WorkDir, "lab")
			if err := os.MkdirAll(home, 0o700); err != nil {
				return err
			}
			env.Setenv("HOME", home)
			env.Setenv("NEMOCLAW_LAB_DIR", labDir)
			env.Setenv("NO_COLOR", "1")
			env.Setenv("GORACE", os.Getenv("GORACE"))
			env.Setenv("PATH", harness.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			// A short name per script: lab names are DNS labels.
			base := strings.TrimSuffix(filepath.Base(env.WorkDir), filepath.Ext(env.WorkDir))
			env.Setenv("SB", sandboxName(base))
			env.Defer(func() { harness.Cleanup(home, labDir) })
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport":     cmdFreeport,
			"gwpid":        cmdGatewayPID,
			"daemonpid":    cmdDaemonPID,
			"jsonout":      func(ts *testscript.TestScript, neg bool, args []string) { cmdJSONOut(ts, neg, args, schema) },
			"waitlock":     cmdWaitLock,
			"snapshot":     cmdSnapshot,
			"alive":        cmdAlive,
			"openshellize": cmdOpenShellize,
		},
	})
}

// sandboxName makes a lab name from a script's work dir name (script-N).
func sandboxName(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	n := strings.Trim(b.String(), "-")
	if len(n) > 40 {
		n = n[len(n)-40:]
	}
	return "t-" + strings.Trim(n, "-")
}

// freeport VAR... sets each VAR to a TCP port on 127.0.0.1 reserved for
// this test process (testenv.ReservePort).
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: freeport VAR...")
	}
	for _, v := range args {
		p, err := testenv.ReservePort()
		ts.Check(err)
		ts.Setenv(v, strconv.Itoa(p))
	}
}

func openSandbox(ts *testscript.TestScript, name string) *lab.Sandbox {
	s, err := lab.Open(lab.Options{Name: name, Home: ts.Getenv("HOME"), LabDir: ts.Getenv("NEMOCLAW_LAB_DIR")})
	ts.Check(err)
	return s
}

// gwpid SANDBOX VAR sets VAR to the gateway's pid inside the sandbox (as
// the payload reports it); fails unless exactly one gateway runs. With !,
// asserts that none runs.
func cmdGatewayPID(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || !neg && len(args) != 2 {
		ts.Fatalf("usage: gwpid SANDBOX VAR | ! gwpid SANDBOX")
	}
	procs, err := openSandbox(ts, args[0]).GatewayProcesses()
	ts.Check(err)
	if neg {
		if len(procs) > 0 {
			ts.Fatalf("a gateway runs in %s: %v", args[0], procs)
		}
		return
	}
	_, nspid, err := harness.GatewayPID(openSandbox(ts, args[0]))
	ts.Check(err)
	ts.Setenv(args[1], strconv.Itoa(nspid))
}

// daemonpid SANDBOX PORT VAR sets VAR to our forward daemon's pid, from
// its record.
func cmdDaemonPID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: daemonpid SANDBOX PORT VAR")
	}
	port, err := strconv.Atoi(args[1])
	ts.Check(err)
	dir := filepath.Join(ts.Getenv("HOME"), ".nemoclaw", "state", "forwards")
	st, err := portforward.ReadState(portforward.PathsFor(dir, args[0], port).State)
	ts.Check(err)
	ts.Setenv(args[2], strconv.Itoa(st.PID))
}

// alive PID: the host process PID runs. With !, that it does not.
func cmdAlive(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: alive PID")
	}
	pid, err := strconv.Atoi(args[0])
	ts.Check(err)
	_, serr := os.Stat(fmt.Sprintf("/proc/%d/cmdline", pid))
	alive := serr == nil
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			alive = false
		}
	}
	if alive == neg {
		ts.Fatalf("pid %d alive=%v", pid, alive)
	}
}

// jsonout PATH=VALUE... checks that stdout is exactly one JSON object,
// valid against the report schema, and that each dotted PATH (array
// elements by index, or by a step/forward name: steps.gateway.status)
// equals VALUE; PATH~VALUE checks a substring, PATH!~VALUE its absence.
func cmdJSONOut(ts *testscript.TestScript, neg bool, args []string, schema *jsonschema.Schema) {
	if neg {
		ts.Fatalf("jsonout does not take !")
	}
	out := ts.ReadFile("stdout")
	doc, err := harness.DecodeReport(out, schema)
	if err != nil {
		ts.Fatalf("%v", err)
	}
	for _, a := range args {
		op := "="
		for _, o := range []string{"!~", "~", "="} {
			if strings.Contains(a, o) {
				op = o
				break
			}
		}
		path, want, _ := strings.Cut(a, op)
		got, ok := harness.Lookup(doc, strings.Split(path, "."))
		gs := fmt.Sprint(got)
		switch {
		case op == "=" && (!ok || gs != want):
			ts.Fatalf("%s = %q (found %v), want %q\n%s", path, gs, ok, want, out)
		case op == "~" && (!ok || !strings.Contains(gs, want)):
			ts.Fatalf("%s = %q, want it to contain %q", path, gs, want)
		case op == "!~" && ok && strings.Contains(gs, want):
			ts.Fatalf("%s = %q contains %q", path, gs, want)
		}
	}
}

// waitlock SANDBOX waits (up to a minute) until another process holds the
// sandbox's run lock on this machine.
func cmdWaitLock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitlock SANDBOX")
	}
	path := filepath.Join(ts.Getenv("HOME"), ".nemoclaw", "state", "locks", args[0]+".lock")
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			l, err := statefs.TryLock(path)
			if err == statefs.ErrLocked {
				return
			}
			if l != nil {
				l.Unlock()
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	ts.Fatalf("nobody took %s within a minute", path)
}

// snapshot SANDBOX FILE writes what a read-only command must not change:
// the sandbox's /tmp (names, sizes, modes, owners, mtimes), its processes
// (pid and command), and the host state under ~/.nemoclaw (names, sizes,
// modes, mtimes; forward daemons' logs aside). Two snapshots are compared
// with cmp.
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: snapshot SANDBOX FILE")
	}
	s := openSandbox(ts, args[0])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tmp, err := s.Output(ctx, "root", "sh", "-c", "cd /tmp && find . -printf '%p %s %m %u %g %T@ %y\\n' | sort")
	ts.Check(err)
	procs, err := s.Processes()
	ts.Check(err)
	var pl []string
	for _, p := range procs {
		if p.Comm == "sshd" || p.State == "Z" {
			continue // our own ssh sessions come and go
		}
		pl = append(pl, fmt.Sprintf("%d %s", p.NSPID, strings.Join(p.Args, " ")))
	}
	sort.Strings(pl)
	var host []string
	root := filepath.Join(ts.Getenv("HOME"), ".nemoclaw")
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		// A forward daemon's own log is its diary, not state: a probe
		// through a forward whose gateway is down is logged there.
		if err == nil && !strings.HasSuffix(p, ".log") {
			host = append(host, fmt.Sprintf("%s %d %v %d", strings.TrimPrefix(p, root), fi.Size(), fi.Mode(), fi.ModTime().UnixNano()))
		}
		return nil
	})
	var b strings.Builder
	fmt.Fprintf(&b, "## /tmp\n%s\n## processes\n%s\n## host\n%s\n", tmp, strings.Join(pl, "\n"), strings.Join(host, "\n"))
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(b.String()), 0o600))
}

// openshellize SANDBOX GATEWAY makes a lab sandbox's registry entry what
// NemoClaw writes for an OpenShell sandbox: no transport object (OpenShell
// is the default) and the OpenShell gateway's name.
func cmdOpenShellize(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: openshellize SANDBOX GATEWAY")
	}
	ts.Check(registry.Update(registry.DefaultPath(ts.Getenv("HOME")), func(r *registry.Registry) error {
		sb, ok := r.Sandboxes[args[0]]
		if !ok {
			return fmt.Errorf("no sandbox %s", args[0])
		}
		sb.Transport, sb.GatewayName = nil, args[1]
		return nil
	}))
}
