package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/host/registry"
)

// cli runs the nemoclaw-lab binary with a private HOME and lab dir.
type cli struct {
	t         *testing.T
	home, lab string
	env       []string
}

func newCLI(t *testing.T) *cli {
	base := t.TempDir()
	return &cli{t: t, home: filepath.Join(base, "home"), lab: filepath.Join(base, "lab")}
}

func (c *cli) run(stdin string, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, labBin, args...)
	cmd.Env = append(os.Environ(), "HOME="+c.home, "NEMOCLAW_LAB_DIR="+c.lab)
	cmd.Env = append(cmd.Env, c.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		c.t.Fatalf("nemoclaw-lab %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// launcherPID reads the unshare PID a CLI `up` recorded, to reap it (the
// CLI exits; with the test as subreaper its unshare becomes our child).
func (c *cli) launcherPID(name string) int {
	var st state
	data, err := os.ReadFile(filepath.Join(c.lab, name, "state.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		c.t.Fatal(err)
	}
	return st.LauncherPID
}

// gone reports whether a process no longer runs. The CLI exits after `up`,
// so its unshare belongs to the host's init, which may take a while to reap
// it: a zombie counts as gone. (Making this test a subreaper to reap it
// would also adopt other tests' orphans, nsenter's children among them,
// which Go never reaps.)
func gone(pid int) bool {
	_, st, err := procStart(pid)
	return err != nil || st == "Z" || st == "X"
}

// The command line as operators and CI use it, flags after positionals.
func TestCLI(t *testing.T) {
	requireLab(t)
	c := newCLI(t)
	t.Cleanup(func() { c.run("", "down", "--all") })

	out, stderr, code := c.run("", "up", "c1", "--agent", "hermes", "--port", "18790")
	if code != 0 {
		t.Fatalf("up: exit %d: %s%s", code, out, stderr)
	}
	launcher := c.launcherPID("c1")
	cfg := filepath.Join(c.lab, "c1", "ssh_config")
	if !strings.Contains(out, cfg) || !strings.Contains(out, "nemoclaw-lab-c1") {
		t.Errorf("up output lacks the ssh-config and alias: %q", out)
	}
	r, err := registry.Load(registry.DefaultPath(c.home))
	if err != nil || r.Sandboxes["c1"] == nil || r.Sandboxes["c1"].Agent != "hermes" || r.Sandboxes["c1"].DashboardPort != 18790 {
		t.Fatalf("registry after up: %+v, %v", r, err)
	}
	sshOut, err := exec.Command("ssh", "-F", cfg, "nemoclaw-lab-c1", "id", "-un").CombinedOutput()
	if err != nil || strings.TrimSpace(string(sshOut)) != "sandbox" {
		t.Fatalf("ssh id -un: %q, %v", sshOut, err)
	}

	t.Run("exec passes stdin, output and the exit status", func(t *testing.T) {
		out, _, code := c.run("hello\n", "exec", "c1", "--", "sh", "-c", "cat; id -un; exit 7")
		if code != 7 || out != "hello\nsandbox\n" {
			t.Errorf("exec: exit %d, out %q", code, out)
		}
		out, _, code = c.run("", "exec", "c1", "--user", "root", "--", "id", "-un")
		if code != 0 || out != "root\n" {
			t.Errorf("exec --user root after the name: exit %d, out %q", code, out)
		}
	})

	t.Run("kill-gateway and wipe-tmp", func(t *testing.T) {
		if _, stderr, code := c.run("", "kill-gateway", "c1", "--signal", "KILL"); code != 0 {
			t.Fatalf("kill-gateway: %d %s", code, stderr)
		}
		if _, stderr, code := c.run("", "kill-gateway", "c1"); code != 1 || !strings.Contains(stderr, "no gateway") {
			t.Errorf("kill-gateway with none running: %d %q", code, stderr)
		}
		if _, stderr, code := c.run("", "kill-gateway", "c1", "--signal", "NOPE"); code != 2 {
			t.Errorf("unknown signal: %d %q", code, stderr)
		}
		if _, stderr, code := c.run("", "wipe-tmp", "c1", "--kill-gateway"); code != 0 {
			t.Fatalf("wipe-tmp: %d %s", code, stderr)
		}
		if out, _, _ := c.run("", "exec", "c1", "--", "ls", "-A", "/tmp"); out != "" {
			t.Errorf("/tmp after wipe-tmp: %q", out)
		}
	})

	t.Run("openshell test double", func(t *testing.T) {
		dir := t.TempDir()
		out, stderr, code := c.run("", "openshell-shim", dir)
		shim := filepath.Join(dir, "openshell")
		if code != 0 || strings.TrimSpace(out) != shim {
			t.Fatalf("openshell-shim: %d %q %q", code, out, stderr)
		}
		script, _ := os.ReadFile(shim)
		if !strings.Contains(string(script), "TEST DOUBLE") {
			t.Errorf("the shim does not say it is a test double:\n%s", script)
		}
		// It runs with the caller's HOME, not the CLI test's: the lab dir
		// and home are baked in.
		run := func(stdin string, args ...string) (string, string, int) {
			cmd := exec.Command(shim, args...)
			cmd.Stdin = strings.NewReader(stdin)
			var o, e bytes.Buffer
			cmd.Stdout, cmd.Stderr = &o, &e
			_ = cmd.Run()
			return o.String(), e.String(), cmd.ProcessState.ExitCode()
		}
		if out, _, code := run("", "sandbox", "get", "c1"); code != 0 || !strings.Contains(out, "Phase: Ready") {
			t.Errorf("sandbox get c1: %d %q", code, out)
		}
		if _, stderr, code := run("", "sandbox", "get", "nope"); code != 1 || !strings.Contains(stderr, "NotFound") {
			t.Errorf("sandbox get nope: %d %q", code, stderr)
		}
		if out, _, code := run("", "sandbox", "list"); code != 0 || !strings.Contains(out, "c1") {
			t.Errorf("sandbox list: %d %q", code, out)
		}
		if out, _, code := run("in\n", "sandbox", "exec", "--name", "c1", "--", "sh", "-c", "cat; id -un; exit 3"); code != 3 || out != "in\nsandbox\n" {
			t.Errorf("sandbox exec: %d %q", code, out)
		}
		out, _, code = run("", "sandbox", "ssh-config", "c1")
		if code != 0 || !strings.Contains(out, "Host openshell-c1\n") {
			t.Fatalf("sandbox ssh-config: %d %q", code, out)
		}
		cfg2 := filepath.Join(t.TempDir(), "cfg")
		os.WriteFile(cfg2, []byte(out), 0o600)
		if got, err := exec.Command("ssh", "-F", cfg2, "openshell-c1", "id", "-un").CombinedOutput(); err != nil || strings.TrimSpace(string(got)) != "sandbox" {
			t.Errorf("ssh through the double's ssh-config: %q, %v", got, err)
		}
	})

	t.Run("bad input is refused and changes nothing", func(t *testing.T) {
		cases := []struct {
			why  string
			args []string
			code int
			want string
		}{
			{"invalid name: upper case and underscore are not DNS labels", []string{"up", "Bad_Name"}, 2, "invalid sandbox name"},
			{"duplicate: c1 exists", []string{"up", "c1"}, 1, "already exists"},
			{"unknown agent", []string{"up", "c2", "--agent", "claude"}, 1, "unknown agent"},
			{"a port the sandbox's sshd owns", []string{"up", "c2", "--port", "22"}, 1, "invalid port"},
			{"unknown flag", []string{"up", "c2", "--frobnicate"}, 2, "frobnicate"},
			{"exec without a command", []string{"exec", "c1"}, 2, "usage"},
			{"real gateway without lab-deps", []string{"up", "c2", "--gateway", "openclaw"}, 1, "make lab-deps"},
		}
		for _, tc := range cases {
			c.env = []string{"NEMOCLAW_LAB_CACHE=" + t.TempDir()}
			_, stderr, code := c.run("", tc.args...)
			c.env = nil
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.why, code, stderr, tc.code, tc.want)
			}
		}
		if _, err := os.Stat(filepath.Join(c.lab, "c2")); err == nil {
			t.Error("a refused up left a state dir")
		}
		r, _ := registry.Load(registry.DefaultPath(c.home))
		if names := r.Names(); len(names) != 1 || names[0] != "c1" {
			t.Errorf("registry after refusals: %v", names)
		}
	})

	t.Run("up as a non-root user is refused", func(t *testing.T) {
		cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", labBin, "up", "c3")
		cmd.Env = []string{"HOME=/nonexistent", "NEMOCLAW_LAB_DIR=" + filepath.Join(c.lab, "unused"), "PATH=" + os.Getenv("PATH")}
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "needs root") {
			t.Errorf("non-root up: exit %d, %q", cmd.ProcessState.ExitCode(), out)
		}
	})

	t.Run("up without sshd is refused", func(t *testing.T) {
		// A private mount namespace where /usr/sbin is empty: the host's
		// sshd is untouched.
		cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
			`mount -t tmpfs none /usr/sbin && exec "$0" up c4`, labBin)
		cmd.Env = append(os.Environ(), "HOME="+c.home, "NEMOCLAW_LAB_DIR="+c.lab)
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "make deps") {
			t.Errorf("up without sshd: exit %d, %q", cmd.ProcessState.ExitCode(), out)
		}
		if _, err := os.Stat(filepath.Join(c.lab, "c4")); err == nil {
			t.Error("state dir left")
		}
	})

	t.Run("recreate and down are idempotent and leave nothing", func(t *testing.T) {
		if _, stderr, code := c.run("", "recreate", "c1"); code != 0 {
			t.Fatalf("recreate: %d %s", code, stderr)
		}
		recreated := c.launcherPID("c1")
		s, err := Open(Options{Name: "c1", Home: c.home, LabDir: c.lab})
		if err != nil {
			t.Fatal(err)
		}
		pidns := s.st.PIDNS
		if _, stderr, code := c.run("", "down", "c1"); code != 0 {
			t.Fatalf("down: %d %s", code, stderr)
		}
		if _, stderr, code := c.run("", "down", "c1"); code != 0 {
			t.Errorf("second down: %d %s", code, stderr)
		}
		if _, stderr, code := c.run("", "down", "--all"); code != 0 {
			t.Errorf("down --all with nothing: %d %s", code, stderr)
		}
		assertNoLabLeft(t, Options{Home: c.home, LabDir: c.lab}, []string{pidns})
		for _, pid := range []int{launcher, recreated} {
			if !gone(pid) {
				t.Errorf("launcher %d still runs", pid)
			}
		}
	})
}

// The real OpenClaw gateway in a lab sandbox (issue 3 acceptance: `up t2
// --gateway openclaw` serves the Control UI). About 1 GB and tens of
// seconds: one sandbox, once.
func TestRealOpenClawSandbox(t *testing.T) {
	requireLab(t)
	requireOpenClaw(t)
	if testing.Short() {
		t.Skip("starts the real OpenClaw gateway; skipped in -short")
	}
	// Not parallel: on two cores shared with the other lab tests, OpenClaw's
	// own 5 s start-up lease can time out and the gateway gives up.
	holdRealOpenClaw(t)
	o := testOptions(t, "t2")
	o.Gateway = GatewayOpenClaw
	s := upT(t, o)
	page := mustOutput(t, s, "sandbox", "curl", "-sS", "--max-time", "20", "http://127.0.0.1:18789/")
	if !strings.Contains(page, "<title>OpenClaw Control</title>") {
		t.Fatalf("real OpenClaw page lacks the Control title: %.300q", page)
	}
	gw, err := s.GatewayProcesses()
	if err != nil || len(gw) == 0 {
		t.Fatalf("gateway processes: %+v, %v", gw, err)
	}
	env, _ := os.ReadFile("/proc/" + strconv.Itoa(gw[0].PID) + "/environ")
	for _, want := range []string{"--require /tmp/nemoclaw-sandbox-safety-net.js", "--require /tmp/nemoclaw-ciao-network-guard.js"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("real gateway's environment lacks %q", want)
		}
	}
}
