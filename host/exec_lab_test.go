package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// Issue 4's acceptance against a lab sandbox (sshd in the sandbox's own
// namespaces, reached through a ProxyCommand, logging in as `sandbox`):
// exec statuses and user, an empty known_hosts (6), and the same commands
// through the lab's OpenShell test double, both over its ssh-config and
// through the `sandbox exec` fallback.
func TestExecLabSandbox(t *testing.T) {
	t.Parallel()
	testenv.RequireRoot(t)
	for _, b := range []string{sshdtest.SSHD, "node", "unshare", "nsenter", "socat"} {
		testenv.RequireBinary(t, b)
	}
	base := t.TempDir()
	o := lab.Options{Name: "execlab", Home: filepath.Join(base, "home"), LabDir: filepath.Join(base, "lab")}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang protection
	defer cancel()
	sb, err := lab.Up(ctx, o)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := sb.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	home := o.Home

	// A second registry entry for the same sandbox whose config pins
	// nothing: the host key is unknown.
	empty := filepath.Join(base, "empty_known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(sb.SSHConfig)
	if err != nil {
		t.Fatal(err)
	}
	unpinnedCfg := filepath.Join(base, "unpinned_ssh_config")
	unpinned := strings.Replace(string(cfg), "Host "+sb.Host+"\n", "Host "+sb.Host+"\n  UserKnownHostsFile "+empty+"\n", 1)
	if unpinned == string(cfg) {
		t.Fatalf("lab ssh config has no 'Host %s' line:\n%s", sb.Host, cfg)
	}
	if err := os.WriteFile(unpinnedCfg, []byte(unpinned), 0o600); err != nil {
		t.Fatal(err)
	}
	regPath := registry.DefaultPath(home)
	if err := registry.Update(regPath, func(r *registry.Registry) error {
		r.Sandboxes["unpinned"] = &registry.Sandbox{Name: "unpinned", Agent: "openclaw",
			Transport: &registry.Transport{Kind: registry.KindSSH, SSHConfig: unpinnedCfg, Host: sb.Host}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	check := func(why string, getenv map[string]string, args []string, stdin string, wantCode int, wantOut, wantErrIn string) {
		t.Helper()
		code, stdout, stderr := runExecCLIEnv(t, home, getenv, stdin, args...)
		if code != wantCode || stdout != wantOut || !strings.Contains(stderr, wantErrIn) {
			t.Errorf("%s: nemoclaw %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q",
				why, strings.Join(args, " "), code, stdout, stderr, wantCode, wantOut, wantErrIn)
		}
	}
	check("status passes through", nil, []string{"execlab", "exec", "--", "sh", "-c", "exit 42"}, "", 42, "", "")
	check("the login is the sandbox user", nil, []string{"execlab", "exec", "--", "id", "-un"}, "", 0, "sandbox\n", "")
	check("stdin passes through", nil, []string{"execlab", "exec", "--", "cat"}, "payload\n", 0, "payload\n", "")
	check("an empty known_hosts exits 6", nil, []string{"unpinned", "exec", "--", "true"}, "", 6, "", empty)

	// OpenShell: the lab's test double of the CLI. The registry entry
	// without a transport object means OpenShell.
	shim, err := lab.WriteOpenShellShim(filepath.Join(base, "shim"), o)
	if err != nil {
		t.Fatalf("openshell shim: %v", err)
	}
	if err := registry.Update(regPath, func(r *registry.Registry) error {
		r.Sandboxes["execlab"].Transport = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	viaShim := map[string]string{"NEMOCLAW_OPENSHELL_BIN": shim}
	check("OpenShell ssh-config: status", viaShim, []string{"execlab", "exec", "--", "sh", "-c", "exit 42"}, "", 42, "", "")
	check("OpenShell ssh-config: user", viaShim, []string{"execlab", "exec", "--", "id", "-un"}, "", 0, "sandbox\n", "")

	// The exec fallback directly (the CLI double does offer ssh-config, so
	// the host would never choose it): a command, its output cut at the
	// start marker, and its status.
	tr, err := dialOpenShellExecOnly(ctx, "execlab", shim)
	if err != nil {
		t.Fatalf("exec fallback: %v", err)
	}
	defer tr.Close()
	var out strings.Builder
	res, err := tr.Run(ctx, execCmd("id -un; exit 7", &out))
	if err != nil || res.Code != 7 || out.String() != "sandbox\n" {
		t.Errorf("exec fallback: %v %v %q; want exit 7 and sandbox", res, err, out.String())
	}
}
