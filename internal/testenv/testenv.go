// Package testenv holds the checks tests make before they drive real
// processes (sshd, sh, namespaces, the lab). Under `make test`
// (NEMOCLAW_TEST_STRICT=1) and in CI (CI set) a missing prerequisite fails
// the test loudly, saying what to install or how to run: a run that
// silently skipped its real tests proves nothing. A plain `go test`
// elsewhere skips, saying why.
package testenv

import (
	"os"
	"os/exec"
	"testing"
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

// AwkwardStrings are the strings most likely to break a quoting or
// encoding function: seeds for the fuzzers that check ours against a real
// sh.
var AwkwardStrings = []string{
	"", "plain", "it's", "'", "''", `'\''`, `\`, `\'`, `"`, "$HOME", "$(touch /tmp/x)", "`id`",
	"a b\tc\nd", "\n", "*", "?[a-z]", "~root", "-n", "--", "!", "#comment", "%s%n", "\x01\x7f\xff",
	"ünïcödé", "a'b'c'd", "${x:-y}", ";|&<>()", "\r\n",
}
