package host

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// execHome is a temporary HOME whose registry holds the given sandboxes,
// each reached with the given ssh config and Host alias.
func execHome(t *testing.T, entries map[string][2]string) string {
	t.Helper()
	home := t.TempDir()
	sandboxes := map[string]any{}
	for name, e := range entries {
		sandboxes[name] = map[string]any{
			"name":      name,
			"agent":     "openclaw",
			"transport": map[string]any{"kind": "ssh", "sshConfig": e[0], "host": e[1]},
		}
	}
	b, err := json.Marshal(map[string]any{"sandboxes": sandboxes, "defaultSandbox": nil})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, ".nemoclaw"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".nemoclaw", "sandboxes.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

// runExecCLI runs the CLI in-process with HOME set to home.
func runExecCLI(t *testing.T, home, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runExecCLIEnv(t, home, nil, stdin, args...)
}

// runExecCLIEnv is runExecCLI with more environment variables.
func runExecCLIEnv(t *testing.T, home string, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	inv := &Invocation{
		Brand:  BrandFor("nemoclaw"),
		Stdin:  strings.NewReader(stdin),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			switch k {
			case "HOME":
				return home
			case "SSH_AUTH_SOCK":
				return "" // the operator's agent must not change the result
			}
			return os.Getenv(k)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang protection
	defer cancel()
	code := inv.Run(ctx, append([]string{"nemoclaw"}, args...))
	return code, stdout.String(), stderr.String()
}

// dialOpenShellExecOnly opens the OpenShell exec fallback with bin as the CLI.
func dialOpenShellExecOnly(ctx context.Context, name, bin string) (sandboxexec.Transport, error) {
	return sandboxexec.DialOpenShell(ctx, name, sandboxexec.OpenShellOptions{
		ExecOnly: true,
		Getenv: func(k string) string {
			if k == "NEMOCLAW_OPENSHELL_BIN" {
				return bin
			}
			return os.Getenv(k)
		},
	})
}

func execCmd(script string, stdout io.Writer) sandboxexec.Command {
	return sandboxexec.Command{Script: script, Stdout: stdout, Stderr: io.Discard}
}

// `<name> exec -- cmd` against a real sshd: statuses, stdio and the exit
// codes of transport failures (SPEC §2.2, §2.3).
func TestExecCommand(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	emptyKnown := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(emptyKnown, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, silentPort, _ := net.SplitHostPort(sshdtest.SilentServer(t))
	home := execHome(t, map[string][2]string{
		"demo":     {s.ConfigFile, s.Host},
		"unpinned": {s.WriteClientConfig(t, "UserKnownHostsFile "+emptyKnown), s.Host},
		"silent":   {s.WriteClientConfig(t, "Port "+silentPort, "ConnectTimeout 2"), s.Host},
	})

	cases := []struct {
		why        string
		stdin      string
		args       []string
		code       int
		stdout     string
		stderrHave string
	}{
		{"the command's status is ours", "", []string{"demo", "exec", "--", "sh", "-c", "exit 42"}, 42, "", ""},
		{"argv words arrive as words (sshdtest logs in as root)", "", []string{"demo", "exec", "--", "id", "-un"}, 0, "root\n", ""},
		{"quoting keeps spaces, quotes and $ literal", "", []string{"demo", "exec", "--", "printf", "%s|", "a b", "it's", "$HOME"}, 0, "a b|it's|$HOME|", ""},
		{"stdin passes through", "from the host\n", []string{"demo", "exec", "--", "cat"}, 0, "from the host\n", ""},
		{"stderr passes through and 127 is kept", "", []string{"demo", "exec", "--", "sh", "-c", "echo oops >&2; no-such-cmd-nemoclaw"}, 127, "", "oops"},
		{"a signal death is 128+n", "", []string{"demo", "exec", "--", "sh", "-c", "kill -TERM $$"}, 143, "", ""},
		{"flags after -- belong to the command, not to us", "", []string{"demo", "exec", "--", "ls", "--json"}, 2, "", "--json"},
		{"an empty known_hosts is a host key failure", "", []string{"unpinned", "exec", "--", "true"}, 6, "", emptyKnown},
		{"a peer that never speaks is unreachable", "", []string{"silent", "exec", "--", "true"}, 3, "", "ConnectTimeout"},
		{"an unknown sandbox: exit 1, suggestion, registered names", "", []string{"deno", "exec", "--", "true"}, 1, "", "Did you mean 'demo'?"},
		{"an invalid name is a usage error before anything else", "", []string{"Bad_Name", "exec", "--", "true"}, 2, "", "invalid sandbox name"},
		{"no command after --", "", []string{"demo", "exec"}, 2, "", "exec needs the command after --"},
		{"--timeout expiring: the command's effect is unknown, exit 3", "", []string{"demo", "exec", "--timeout", "1s", "--", "sleep", "60"}, 3, "", "--timeout 1s expired"},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			code, stdout, stderr := runExecCLI(t, home, c.stdin, c.args...)
			if code != c.code || stdout != c.stdout || !strings.Contains(stderr, c.stderrHave) {
				t.Errorf("nemoclaw %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q",
					strings.Join(c.args, " "), code, stdout, stderr, c.code, c.stdout, c.stderrHave)
			}
		})
	}
	code, _, stderr := runExecCLI(t, home, "", "deno", "exec", "--", "true")
	if code == 1 && !strings.Contains(stderr, "Registered sandboxes: demo, silent, unpinned.") {
		t.Errorf("unknown sandbox message does not list the registered names: %q", stderr)
	}
}

// Suggestions only for near names, and the closest one.
func TestClosestName(t *testing.T) {
	names := []string{"demo", "prod-east", "prod-west", "staging"}
	cases := []struct{ in, want, why string }{
		{"deno", "demo", "one substitution"},
		{"dmo", "demo", "one deletion"},
		{"prod-eats", "prod-east", "a transposition is two edits, still near"},
		{"x", "", "nothing is near a one-letter name"},
		{"completely-else", "", "far names get no suggestion"},
	}
	for _, c := range cases {
		if got := closestName(c.in, names); got != c.want {
			t.Errorf("%s: closestName(%q) = %q, want %q", c.why, c.in, got, c.want)
		}
	}
}

// The exec command line, run by a real sh (the remote shell is POSIX), must
// hand the command exactly the operator's words, whatever they contain.
func FuzzExecCommandLine(f *testing.F) {
	for _, s := range [][2]string{{"sh", "-c"}, {"it's", "$HOME"}, {"`id`", "$(id)"}, {"a b\tc\n", ""}, {"\\", "'\\''"}, {"-", "--"}, {"*", "?[a]"}, {"é", "\xff"}} {
		f.Add(s[0], s[1])
	}
	sh := testenv.RequireBinary(f, "sh")
	f.Fuzz(func(t *testing.T, a, b string) {
		argv := []string{"printf", `%s\000`, a, b}
		line, err := commandLine(argv)
		if strings.ContainsRune(a+b, 0) {
			if err == nil {
				t.Fatal("a NUL byte in an argument was accepted")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sh, "-c", line).Output()
		if err != nil {
			t.Fatalf("sh -c %q: %v", line, err)
		}
		if want := a + "\x00" + b + "\x00"; string(out) != want {
			t.Fatalf("words %q %q arrived as %q", a, b, out)
		}
	})
}
