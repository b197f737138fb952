package sandboxexec_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// The helpers run the real command lines (`-g <gateway>` first, then
// `forward list` or `forward stop <port> <name>`) and read what the CLI
// printed; a failing CLI's message reaches the error.
func TestOpenShellForwardCommands(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	table := filepath.Join(t.TempDir(), "list")
	out := "SANDBOX BIND      PORT     PID        STATUS\n" +
		"demo    127.0.0.1 18789    4242       \x1b[32mrunning\x1b[39m\n"
	if err := os.WriteFile(table, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	log := argvLog(t)
	getenv := double(t, map[string]string{"DOUBLE_SANDBOX": "demo", "DOUBLE_ARGV_LOG": log, "DOUBLE_FORWARD_LIST": table})
	bin, err := sandboxexec.ResolveOpenShell(getenv, nil)
	if err != nil {
		t.Fatal(err)
	}

	rows, err := sandboxexec.OpenShellForwards(ctx, bin, "nemoclaw")
	want := sandboxexec.OpenShellForward{Sandbox: "demo", Bind: "127.0.0.1", Port: 18789, PID: 4242, Status: "running"}
	if err != nil || len(rows) != 1 || rows[0] != want || !rows[0].Live() {
		t.Errorf("OpenShellForwards: %+v, %v; want [%+v]", rows, err, want)
	}
	if err := sandboxexec.OpenShellForwardStop(ctx, bin, "nemoclaw", 18789, "demo"); err != nil {
		t.Errorf("OpenShellForwardStop: %v", err)
	}
	// No gateway named: no flag, OpenShell picks its own.
	if _, err := sandboxexec.OpenShellForwards(ctx, bin, ""); err != nil {
		t.Errorf("OpenShellForwards without a gateway: %v", err)
	}
	// Refused before OpenShell runs: a port out of range, a name OpenShell
	// would take for a flag.
	if err := sandboxexec.OpenShellForwardStop(ctx, bin, "nemoclaw", 0, "demo"); err == nil {
		t.Errorf("forward stop of port 0 was accepted")
	}
	if err := sandboxexec.OpenShellForwardStop(ctx, bin, "nemoclaw", 18789, "-g"); err == nil {
		t.Errorf("forward stop of a sandbox named -g was accepted")
	}
	got := readArgvLog(t, log)
	wantArgv := []string{"-g nemoclaw forward list", "-g nemoclaw forward stop 18789 demo", "forward list"}
	if strings.Join(got, "\n") != strings.Join(wantArgv, "\n") {
		t.Errorf("openshell was run as\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantArgv, "\n"))
	}

	// OpenShell failing: the error says what was being done and what
	// OpenShell said.
	getenv = double(t, map[string]string{"DOUBLE_SANDBOX": "demo", "DOUBLE_FORWARD_FAIL": "1"})
	bin, _ = sandboxexec.ResolveOpenShell(getenv, nil)
	if _, err := sandboxexec.OpenShellForwards(ctx, bin, ""); err == nil || !strings.Contains(err.Error(), "listing OpenShell forwards: Error: failed to read forward PID files") {
		t.Errorf("a failing forward list: %v", err)
	}
	if err := sandboxexec.OpenShellForwardStop(ctx, bin, "", 18789, "demo"); err == nil || !strings.Contains(err.Error(), "failed to read forward PID files") {
		t.Errorf("a failing forward stop: %v", err)
	}
}
