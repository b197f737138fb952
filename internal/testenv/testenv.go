// Package testenv holds the checks tests make before they drive real
// processes (sshd, namespaces, the lab). Outside CI a missing prerequisite
// skips the test with the reason; in CI (CI=true) it fails the test loudly,
// because a CI run that silently skipped its real tests proves nothing.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (the CI variable is set).
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}

// missing skips or fails t, depending on InCI.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("prerequisite missing in CI: "+format, args...)
	}
	t.Skipf("skipped, prerequisite missing: "+format, args...)
}

// RequireRoot needs uid 0 (namespaces, bind mounts, sshd, chown).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "this test needs root (Linux namespaces, sshd, file ownership); run make test as root")
	}
}

// RequireBinary needs an executable on PATH (or an absolute path) and
// returns its path.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "%s not found (make deps installs it)", name)
	}
	return p
}
