// Package testenv holds the checks tests make before they drive real
// processes (sshd, sh, namespaces, the lab). Under `make test`
// (NEMOCLAW_TEST_STRICT=1) and in CI (CI set) a missing prerequisite fails
// the test loudly, saying what to install or how to run: a run that
// silently skipped its real tests proves nothing. A plain `go test`
// elsewhere skips, saying why.
package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/statefs"
)

// Strict reports whether a missing prerequisite fails the test instead of
// skipping it.
func Strict() bool {
	for _, k := range []string{"NEMOCLAW_TEST_STRICT", "CI"} {
		if v := os.Getenv(k); v != "" && v != "0" && v != "false" {
			return true
		}
	}
	return false
}

// Missing skips or fails t for a missing prerequisite, depending on
// Strict. The message should say what to install or run.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("prerequisite missing (make test and CI never skip): "+format, args...)
	}
	t.Skipf("skipped, prerequisite missing: "+format, args...)
}

// RequireRoot needs uid 0 (namespaces, bind mounts, sshd, chown).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "this test needs root (Linux namespaces, sshd, file ownership); run make test as root")
	}
}

// RequireBinary needs an executable on PATH (or an absolute path) and
// returns its path.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not found (make deps installs it)", name)
	}
	return p
}

// RealOpenClaw is the Exclusive lock of every test that starts the real
// OpenClaw gateway, in whichever package it lives.
const RealOpenClaw = "real-openclaw"

// Exclusive holds a machine-wide lock named name until t ends, waiting
// (as long as the test's own -timeout allows) while a test in another
// package holds it: go test runs packages side by side, and some tests
// must not overlap with each other wherever they live (two real OpenClaw
// gateways starting together on two shared cores starve each other past
// OpenClaw's own start-up limit). The kernel releases the lock however
// the test binary ends.
func Exclusive(t testing.TB, name string) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "nemoclaw-test-"+name+".lock")
	start := time.Now()
	l, err := statefs.LockWait(context.Background(), path)
	if err != nil {
		t.Fatalf("taking the test lock %s: %v", path, err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Logf("waited %.0f s for %s (another test held it)", waited.Seconds(), path)
	}
	t.Cleanup(l.Unlock)
}

// AwkwardStrings are the strings most likely to break a quoting or
// encoding function: seeds for the fuzzers that check ours against a real
// sh.
var AwkwardStrings = []string{
	"", "plain", "it's", "'", "''", `'\''`, `\`, `\'`, `"`, "$HOME", "$(touch /tmp/x)", "`id`",
	"a b\tc\nd", "\n", "*", "?[a-z]", "~root", "-n", "--", "!", "#comment", "%s%n", "\x01\x7f\xff",
	"ünïcödé", "a'b'c'd", "${x:-y}", ";|&<>()", "\r\n",
}

// FreePort returns a TCP port free on 127.0.0.1 now (the kernel's choice,
// so tests running side by side do not collide). A lab sandbox's own
// loopback is a namespace of its own; this is the host's.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
