package sandboxexec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// double installs testdata/openshell-double (a test double of the OpenShell
// CLI, not OpenShell) as <dir>/openshell with the given double.env, and
// returns a Getenv that points NEMOCLAW_OPENSHELL_BIN at it.
func double(t *testing.T, env map[string]string) func(string) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/openshell-double")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "openshell")
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for k, v := range env {
		fmt.Fprintf(&b, "%s='%s'\n", k, v)
	}
	if err := os.WriteFile(filepath.Join(dir, "double.env"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(k string) string {
		if k == "NEMOCLAW_OPENSHELL_BIN" {
			return bin
		}
		return os.Getenv(k)
	}
}

func dialOpenShell(t *testing.T, name string, opts sandboxexec.OpenShellOptions) (sandboxexec.Transport, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	tr, err := sandboxexec.DialOpenShell(ctx, name, opts)
	if err == nil {
		t.Cleanup(func() { tr.Close() })
	}
	return tr, err
}

// The preferred path: OpenShell's ssh-config (a ProxyCommand) becomes one
// SSH connection that runs commands and dials.
func TestOpenShellThroughSSHConfig(t *testing.T) {
	t.Parallel()
	s := sshdtest.StartWith(t, sshdtest.Options{ProxyCommand: true})
	getenv := double(t, map[string]string{"DOUBLE_SANDBOX": "demo", "DOUBLE_CONFIG": s.ConfigFile})
	tr, err := dialOpenShell(t, "demo", sandboxexec.OpenShellOptions{Getenv: getenv})
	if err != nil {
		t.Fatalf("DialOpenShell: %v", err)
	}
	if _, ok := tr.(*sandboxexec.SSHTransport); !ok {
		t.Fatalf("transport is %T, want *SSHTransport from ssh-config", tr)
	}
	if got, out, _ := run(t, tr, "echo hi; exit 42", nil); got.Code != 42 || out != "hi\n" {
		t.Errorf("got %v %q, want exit 42 and hi", got, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("inside"))
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	c, err := tr.Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("Dial through ssh-config transport: %v", err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "inside" {
		t.Errorf("dial read %q", got)
	}
}

// Without ssh-config the exec fallback runs commands: the preamble the CLI
// prints is cut at the start marker, statuses, env and stdin pass, and Dial
// says it cannot.
func TestOpenShellExecFallback(t *testing.T) {
	t.Parallel()
	getenv := double(t, map[string]string{"DOUBLE_SANDBOX": "demo", "DOUBLE_NO_SSH_CONFIG": "1"})
	tr, err := dialOpenShell(t, "demo", sandboxexec.OpenShellOptions{Getenv: getenv})
	if err != nil {
		t.Fatalf("DialOpenShell: %v", err)
	}
	if _, ok := tr.(*sandboxexec.OpenShellExecTransport); !ok {
		t.Fatalf("transport is %T, want the exec fallback", tr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	cases := []struct {
		script, stdin string
		env           map[string]string
		code          int
		out, errOut   string
		why           string
	}{
		{"echo out; echo err >&2", "", nil, 0, "out\n", "err\n", "the CLI's own preamble on both streams is cut"},
		{"exit 42", "", nil, 42, "", "", "status passes through"},
		{"printf '%s' \"$V\"", "", map[string]string{"V": "it's $HOME `x`"}, 0, "it's $HOME `x`", "", "env values are quoted, never expanded"},
		{"cat", "from stdin\n", nil, 0, "from stdin\n", "", "stdin handed to the CLI"},
		{"printf 'no newline'", "", nil, 0, "no newline", "", "output without a final newline"},
		{"echo '@nemoclaw-exec-start-fake'; exit 3", "", nil, 3, "@nemoclaw-exec-start-fake\n", "", "a marker-like line in the output is output"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		got, err := tr.Run(ctx, sandboxexec.Command{Script: c.script, Env: c.env, Stdin: strings.NewReader(c.stdin), Stdout: &out, Stderr: &errOut})
		if err != nil {
			t.Errorf("%s: %v", c.why, err)
			continue
		}
		if got.Kind != sandboxexec.Exited || got.Code != c.code || out.String() != c.out || errOut.String() != c.errOut {
			t.Errorf("%s: %v stdout %q stderr %q; want exit %d, %q, %q", c.why, got, out.String(), errOut.String(), c.code, c.out, c.errOut)
		}
	}
	if _, err := tr.Dial(ctx, "tcp", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("Dial on the exec fallback: %v, want a clear 'not supported'", err)
	}
}

// Phase check and CLI resolution errors carry the right type and exit code.
func TestOpenShellErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		why    string
		env    map[string]string
		name   string
		check  func(error) bool
		exit   int
		wantIn string
	}{
		{"NotFound from sandbox get: the sandbox is missing", map[string]string{"DOUBLE_SANDBOX": "demo"}, "other",
			func(err error) bool { var e *sandboxexec.SandboxMissingError; return errors.As(err, &e) }, 1, "NotFound"},
		{"a gateway error: unreachable, with OpenShell's message", map[string]string{"DOUBLE_SANDBOX": "demo", "DOUBLE_GATEWAY_DOWN": "1"}, "demo",
			func(err error) bool { var e *sandboxexec.UnreachableError; return errors.As(err, &e) }, 3, "gateway openshell-gw unavailable"},
		{"a sandbox not Ready cannot be inspected", map[string]string{"DOUBLE_SANDBOX": "demo", "DOUBLE_PHASE": "Provisioning"}, "demo",
			func(err error) bool { var e *sandboxexec.UnreachableError; return errors.As(err, &e) }, 3, "Provisioning"},
	}
	for _, c := range cases {
		_, err := dialOpenShell(t, c.name, sandboxexec.OpenShellOptions{Getenv: double(t, c.env)})
		var ec exitcode.Coder
		if err == nil || !c.check(err) || !errors.As(err, &ec) || ec.ExitCode() != c.exit || !strings.Contains(err.Error(), c.wantIn) {
			t.Errorf("%s: got %v (%T)", c.why, err, err)
		}
	}

	// No CLI anywhere: the exact message of SPEC §4.2.
	empty := t.TempDir()
	env := func(k string) string {
		switch k {
		case "PATH", "HOME":
			return empty
		}
		return ""
	}
	fixed := filepath.Join(t.TempDir(), "openshell")
	_, err := sandboxexec.ResolveOpenShell(env, []string{fixed})
	if err == nil || err.Error() != "openshell CLI not found. Install OpenShell before using sandbox commands." {
		t.Errorf("ResolveOpenShell with nothing installed: %v", err)
	}
	// The fixed places are looked at last, and a non-executable file
	// there is not the CLI.
	if err := os.WriteFile(fixed, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sandboxexec.ResolveOpenShell(env, []string{fixed}); err == nil {
		t.Errorf("a non-executable %s was taken for the CLI", fixed)
	}
	os.Chmod(fixed, 0o755)
	if got, err := sandboxexec.ResolveOpenShell(env, []string{fixed}); err != nil || got != fixed {
		t.Errorf("ResolveOpenShell with only %s: %q, %v", fixed, got, err)
	}
	// ~/.local/bin comes before the fixed places.
	local := filepath.Join(empty, ".local", "bin", "openshell")
	os.MkdirAll(filepath.Dir(local), 0o755)
	os.WriteFile(local, []byte("#!/bin/sh\n"), 0o755)
	if got, err := sandboxexec.ResolveOpenShell(env, []string{fixed}); err != nil || got != local {
		t.Errorf("ResolveOpenShell with ~/.local/bin/openshell: %q, %v; want %s", got, err, local)
	}
	// A relative NEMOCLAW_OPENSHELL_BIN is refused, not looked up.
	_, err = sandboxexec.ResolveOpenShell(func(k string) string {
		if k == "NEMOCLAW_OPENSHELL_BIN" {
			return "openshell"
		}
		return ""
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative NEMOCLAW_OPENSHELL_BIN: %v", err)
	}
}

// Every call DialOpenShell makes carries `-g <gateway>` when a gateway is
// named, and none does when it is not: the phase check, ssh-config and the
// exec fallback's `sandbox exec`.
func TestOpenShellGatewayFlag(t *testing.T) {
	t.Parallel()
	for _, gw := range []string{"nemoclaw", ""} {
		log := argvLog(t)
		getenv := double(t, map[string]string{"DOUBLE_SANDBOX": "demo", "DOUBLE_NO_SSH_CONFIG": "1", "DOUBLE_ARGV_LOG": log})
		tr, err := dialOpenShell(t, "demo", sandboxexec.OpenShellOptions{Getenv: getenv, Gateway: gw})
		if err != nil {
			t.Fatalf("DialOpenShell: %v", err)
		}
		if got, out, _ := run(t, tr, "echo hi", nil); got.Code != 0 || out != "hi\n" {
			t.Errorf("exec fallback with gateway %q: %v %q", gw, got, out)
		}
		lines := readArgvLog(t, log)
		wantStarts := []string{"sandbox get demo", "sandbox ssh-config demo", "sandbox exec --name demo -- sh -c "}
		if len(lines) != len(wantStarts) {
			t.Fatalf("gateway %q: openshell ran %d times:\n%s", gw, len(lines), strings.Join(lines, "\n"))
		}
		for i, l := range lines {
			want := wantStarts[i]
			if gw != "" {
				want = "-g " + gw + " " + want
			}
			if !strings.HasPrefix(l, want) {
				t.Errorf("gateway %q: call %d was %q, want it to start with %q", gw, i, l, want)
			}
		}
	}
}

// argvLog is a file the CLI double appends each invocation's arguments to.
func argvLog(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "argv.log")
}

func readArgvLog(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
