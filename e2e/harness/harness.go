// Package harness is what the end-to-end packages (e2e/cli, e2e/jobs) share
// to drive the built binaries against lab sandboxes exactly as an operator
// or a CI job would: the binaries built once per test binary (with the race
// detector, see Main), one private HOME and lab directory per operator, lab
// sandboxes taken down (with every forward daemon recorded in that HOME)
// when the test ends, free ports, the sandbox's gateway processes, and
// --json output checked against the report schema.
//
// It only observes and sets up; it never repairs anything a test is about
// (no retries, no waiting for a recovery to "settle" beyond what the test
// states).
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
	"github.com/nemoclaw/nemoclaw-go/portforward"
)

// BinDir holds nemoclaw, nemohermes and nemoclaw-lab once Main has built
// them.
var BinDir string

// Main builds the binaries into a temporary BinDir, runs the tests and
// removes the binaries; a package's TestMain is os.Exit(harness.Main(m)).
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "nemoclaw-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	BinDir = dir
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	// The tests build the binaries with the race detector, and every
	// process halts on the first race it sees: the engine's and the
	// forward daemon's goroutines run only in these processes, so this
	// is where their races can be caught. Benchmarks time the binaries
	// operators run, built without it.
	flag.Parse()
	args := []string{"build", "-o", dir + "/"}
	if flag.Lookup("test.bench").Value.String() == "" {
		args = append(args, "-race")
		os.Setenv("GORACE", "halt_on_error=1 exitcode=66")
	}
	cmd := exec.Command("go", append(args, "./cmd/nemoclaw", "./cmd/nemohermes", "./cmd/nemoclaw-lab")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the binaries: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// Bin is the path of one of the built binaries.
func Bin(name string) string { return filepath.Join(BinDir, name) }

// RequireLab fails (under make test) or skips a test that needs what a lab
// sandbox needs.
func RequireLab(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	for _, b := range []string{"/usr/sbin/sshd", "ssh", "node", "unshare", "nsenter", "socat", "curl"} {
		testenv.RequireBinary(t, b)
	}
}

// RealOpenClawLock is the machine-wide lock every test that starts the
// real OpenClaw gateway holds (testenv.Exclusive): go test runs packages
// side by side, and two of these gateways starting together on two shared
// cores starve each other past OpenClaw's own start-up limit.
const RealOpenClawLock = "real-openclaw"

// RequireRealOpenClaw needs the lab's real OpenClaw (make lab-deps) and
// holds testenv.RealOpenClaw for the rest of the test, so no two tests
// start the real gateway at once, in this package or another.
func RequireRealOpenClaw(t testing.TB) {
	t.Helper()
	RequireLab(t)
	if _, err := lab.FindOpenClaw(lab.DefaultLabCache()); err != nil {
		testenv.Missing(t, "%v", err)
	}
	testenv.Exclusive(t, testenv.RealOpenClaw)
}

// Operator is one operator's machine: a HOME (registry, forward state,
// locks) and a lab directory. Everything it brings up is taken down when
// the test ends.
type Operator struct {
	Home, LabDir string
}

// NewOperator makes an empty HOME and lab directory under t.TempDir.
func NewOperator(t testing.TB) *Operator {
	t.Helper()
	base := t.TempDir()
	op := &Operator{Home: filepath.Join(base, "home"), LabDir: filepath.Join(base, "lab")}
	if err := os.MkdirAll(op.Home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Cleanup(op.Home, op.LabDir) })
	return op
}

// Env is the environment the binaries run with: this operator's HOME and
// lab directory, no colour.
func (op *Operator) Env() []string {
	return append(os.Environ(), "HOME="+op.Home, "NEMOCLAW_LAB_DIR="+op.LabDir, "NO_COLOR=1")
}

// Up brings up a lab sandbox registered in this operator's HOME. A zero
// o.Port gets a free port; a Hermes sandbox without o.APIPort gets a free
// one too (two Hermes sandboxes cannot share the host's 8642).
func (op *Operator) Up(t testing.TB, name string, o lab.Options) *lab.Sandbox {
	t.Helper()
	o.Name, o.Home, o.LabDir = name, op.Home, op.LabDir
	o.LabBinary = Bin("nemoclaw-lab")
	if o.Port == 0 {
		o.Port = testenv.FreePort(t)
	}
	if o.Agent == lab.AgentHermes && o.APIPort == 0 {
		o.APIPort = testenv.FreePort(t)
	}
	// Hang protection only: the real OpenClaw takes minutes on busy cores.
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	s, err := lab.Up(ctx, o)
	if err != nil {
		t.Fatalf("lab up %s: %v", name, err)
	}
	t.Cleanup(func() { s.Down() })
	return s
}

// LabT brings up one sandbox for one operator: the sandbox and the
// environment to run the binaries in.
func LabT(t testing.TB, name string, o lab.Options) (*lab.Sandbox, []string) {
	t.Helper()
	op := NewOperator(t)
	return op.Up(t, name, o), op.Env()
}

// Cleanup stops everything an operator's HOME and lab directory hold: our
// forward daemons recorded there (proven ours first) and its lab
// sandboxes.
func Cleanup(home, labDir string) {
	dir := filepath.Join(home, ".nemoclaw", "state", "forwards")
	states, _ := portforward.ListStates(dir)
	for _, st := range states {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		portforward.StopDaemon(ctx, portforward.PathsFor(dir, st.Sandbox, st.Port), st, 5*time.Second)
		cancel()
	}
	lab.DownAll(lab.Options{Home: home, LabDir: labDir})
}

// Result is one finished command.
type Result struct {
	Args           []string
	Code           int
	Stdout, Stderr string
}

func (r Result) String() string {
	return fmt.Sprintf("$ %s\nexit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// Run runs one of the built binaries with env and waits for it; ctx is
// hang protection. A command that could not run at all fails the test.
func Run(t testing.TB, ctx context.Context, env []string, bin string, args ...string) Result {
	t.Helper()
	cmd := exec.CommandContext(ctx, Bin(bin), args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Args: append([]string{bin}, args...), Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("running %s: %v (ctx: %v)\n%s", strings.Join(r.Args, " "), err, ctx.Err(), r)
	}
	return r
}

// GatewayPID returns the gateway process of s, as the host sees it (pid)
// and as the sandbox numbers it (nspid, what the payload reports); it
// fails unless exactly one runs. A wrapper shell does not count.
func GatewayPID(s *lab.Sandbox) (pid, nspid int, err error) {
	procs, err := s.GatewayProcesses()
	if err != nil {
		return 0, 0, err
	}
	var found []lab.Process
	for _, p := range procs {
		if p.Comm != "sh" { // the stubs are one process; the real OpenClaw's helpers are titled MainThread
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return 0, 0, fmt.Errorf("want one gateway in %s, found %d: %+v", s.Name, len(found), procs)
	}
	return found[0].PID, found[0].NSPID, nil
}

// Environ returns the environment of a host process as NAME=value lines.
func Environ(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), nil
}

// The two guard preloads as exact NODE_OPTIONS tokens (SPEC §5.1, §5.3).
var GuardRequires = []string{
	"--require /tmp/nemoclaw-sandbox-safety-net.js",
	"--require /tmp/nemoclaw-ciao-network-guard.js",
}

// CheckGuardsInEnviron checks that the process pid runs with both guard
// preloads as exact tokens in its NODE_OPTIONS: "--require PATH" with
// PATH a whole word, not a substring of a longer path.
func CheckGuardsInEnviron(pid int) error {
	env, err := Environ(pid)
	if err != nil {
		return err
	}
	var nodeOptions string
	found := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "NODE_OPTIONS="); ok {
			nodeOptions, found = v, true
		}
	}
	if !found {
		return fmt.Errorf("pid %d has no NODE_OPTIONS", pid)
	}
	words := strings.Fields(nodeOptions)
	for _, want := range GuardRequires {
		path := strings.Fields(want)[1]
		ok := false
		for i := 0; i+1 < len(words); i++ {
			if words[i] == "--require" && words[i+1] == path {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("pid %d: NODE_OPTIONS %q lacks the exact token %q", pid, nodeOptions, want)
		}
	}
	return nil
}

// ProcessesWith lists host pids whose command line holds every part.
func ProcessesWith(parts ...string) []int {
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

// CompileSchema compiles the report schema every --json output must match.
func CompileSchema() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(recovery.Schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("report.schema.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("report.schema.json")
}

// DecodeReport checks that out is exactly one JSON object valid against
// schema and returns it decoded (numbers as json.Number).
func DecodeReport(out string, schema *jsonschema.Schema) (any, error) {
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("stdout is not JSON: %v\n%s", err, out)
	}
	if dec.More() {
		return nil, fmt.Errorf("stdout holds more than one JSON value:\n%s", out)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		return nil, err
	}
	if err := schema.Validate(inst); err != nil {
		return nil, fmt.Errorf("stdout does not match the report schema: %v\n%s", err, out)
	}
	return doc, nil
}

// Lookup finds a dotted path in a decoded report: map keys, array
// elements by index, or by a step's name ("guard_chain" for "guard
// chain": script words cannot hold a space) or a run's sandbox.
func Lookup(v any, path []string) (any, bool) {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[p]; !ok {
				return nil, false
			}
		case []any:
			if i, err := strconv.Atoi(p); err == nil {
				if i < 0 || i >= len(x) {
					return nil, false
				}
				v = x[i]
				continue
			}
			found := false
			name := strings.ReplaceAll(p, "_", " ")
			for _, e := range x {
				if m, ok := e.(map[string]any); ok && (m["name"] == name || m["sandbox"] == p) {
					v, found = e, true
					break
				}
			}
			if !found {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return v, true
}

// Field is Lookup of a dotted path, formatted; "" when absent.
func Field(doc any, path string) string {
	v, ok := Lookup(doc, strings.Split(path, "."))
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}
