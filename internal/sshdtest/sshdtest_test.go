package sshdtest_test

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// The harness is only useful if OpenSSH's own client accepts what it writes:
// pinned key, alias, identity, strict checking.
func TestOpenSSHClientLogsIn(t *testing.T) {
	t.Parallel()
	for _, proxy := range []bool{false, true} {
		s := sshdtest.StartWith(t, sshdtest.Options{ProxyCommand: proxy})
		sshBin := testenv.RequireBinary(t, "ssh")
		out, err := exec.Command(sshBin, "-F", s.ConfigFile, s.Host, "id", "-un").CombinedOutput()
		if err != nil {
			t.Fatalf("proxy=%v: ssh: %v\n%s", proxy, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != "root" {
			t.Fatalf("proxy=%v: id -un = %q, want root", proxy, got)
		}
	}
}

// Kill must take running sessions with it (sshd is PID 1 of its namespace),
// and Restart must come back with the same pinned key on the same port.
func TestKillTakesSessionsAndRestartKeepsKey(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	sshBin := testenv.RequireBinary(t, "ssh")
	cmd := exec.Command(sshBin, "-F", s.ConfigFile, s.Host, "echo started; exec sleep 300")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	buf := make([]byte, 8)
	if _, err := stdout.Read(buf); err != nil {
		t.Fatalf("reading the session's first output: %v", err)
	}
	sessions := s.SessionPids()
	if len(sessions) == 0 {
		t.Fatal("no sshd session process found under the listener")
	}
	s.Kill()
	for _, pid := range sessions {
		if err := syscall.Kill(pid, 0); err == nil {
			// A zombie would still answer; check the state.
			t.Errorf("session process %d still exists after Kill", pid)
		}
	}
	if err := cmd.Wait(); err == nil {
		t.Error("ssh session ended cleanly after sshd was killed; want a failure")
	}
	s.Restart()
	out, err := exec.Command(sshBin, "-F", s.ConfigFile, s.Host, "true").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh after Restart: %v\n%s", err, out)
	}
}

// Options.User logs in as a non-root account that exists only inside sshd's
// mount namespace: the host's /etc/passwd must not gain it.
func TestNonRootUser(t *testing.T) {
	t.Parallel()
	s := sshdtest.StartWith(t, sshdtest.Options{User: "sandbox"})
	sshBin := testenv.RequireBinary(t, "ssh")
	out, err := exec.Command(sshBin, "-F", s.ConfigFile, s.Host, "id -un; echo $HOME").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	if want := "sandbox\n" + s.UserHome + "\n"; string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	if b, _ := os.ReadFile("/etc/passwd"); strings.Contains(string(b), "\nsandbox:x:1001") {
		t.Fatal("the host's /etc/passwd gained the test user")
	}
}
