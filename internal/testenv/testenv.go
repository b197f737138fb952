// Package testenv holds the checks tests make before they drive real
// processes (sshd, sh, namespaces, the lab). Under `make test`
// (NEMOCLAW_TEST_STRICT=1) and in CI (CI set) a missing prerequisite fails
// the test loudly, saying what to install or how to run: a run that
// silently skipped its real tests proves nothing. A plain `go test`
// elsewhere skips, saying why.
package testenv

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
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

// FreePort returns a TCP port on 127.0.0.1 that no other test on this
// machine is handed while this test process lives. A port that is merely
// free now is not enough: tests in parallel (and several test binaries at
// once) each bound port 0, closed it, and the kernel handed the same number
// to the next, so two sandboxes' forwards collided. So a port is reserved
// with a flock on a file named for it (released when the process ends),
// and it is taken from below the kernel's ephemeral range, which outgoing
// connections draw their source ports from.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := ReservePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// reserved holds the reservation files open for the life of the process.
var (
	reservedMu sync.Mutex
	reserved   []*os.File
)

// ReservePort is FreePort for callers without a testing.TB.
func ReservePort() (int, error) {
	dir := filepath.Join(os.TempDir(), "nemoclaw-test-ports")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	const lo, hi = 20000, 32000 // below ip_local_port_range (32768-60999)
	for i := 0; i < 500; i++ {
		p := lo + rand.IntN(hi-lo)
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return 0, err
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // another test has it
			continue
		}
		l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			f.Close() // in use by something else
			continue
		}
		l.Close()
		reservedMu.Lock()
		reserved = append(reserved, f)
		reservedMu.Unlock()
		return p, nil
	}
	return 0, errors.New("no free port in 20000-32000 after 500 tries")
}
