package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// labBin is the nemoclaw-lab binary built once for this package's tests:
// the ProxyCommand of every ssh-config the tests write, and the CLI tests'
// subject.
var labBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "nemoclaw-lab-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		labBin = filepath.Join(dir, "nemoclaw-lab")
		cmd := exec.Command("go", "build", "-o", labBin, "../../cmd/nemoclaw-lab")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building nemoclaw-lab: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}())
}

// requireLab skips (or fails, in CI) a test that needs what a sandbox needs.
func requireLab(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "/usr/sbin/sshd")
	testenv.RequireBinary(t, "ssh")
	testenv.RequireBinary(t, "node")
	testenv.RequireBinary(t, "unshare")
	testenv.RequireBinary(t, "nsenter")
}

// testOptions are options with a private home and lab directory.
func testOptions(t *testing.T, name string) Options {
	t.Helper()
	base := t.TempDir()
	return Options{Name: name, Home: filepath.Join(base, "home"), LabDir: filepath.Join(base, "lab"), LabBinary: labBin}
}

// upT brings a sandbox up and always takes it down when the test ends.
func upT(t *testing.T, o Options) *Sandbox {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := Up(ctx, o)
	if err != nil {
		t.Fatalf("Up(%s): %v", o.Name, err)
	}
	t.Cleanup(func() {
		if err := s.Down(); err != nil {
			t.Errorf("Down(%s): %v", s.Name, err)
		}
	})
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// sshRun runs a command through real OpenSSH with the registered config.
func sshRun(t *testing.T, s *Sandbox, remote string) (string, error) {
	t.Helper()
	cmd := exec.Command("ssh", "-F", s.SSHConfig, s.Host, remote)
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustOutput runs argv in the sandbox and fails the test on a non-zero exit.
func mustOutput(t *testing.T, s *Sandbox, user string, argv ...string) string {
	t.Helper()
	out, err := s.Output(ctxT(t), user, argv...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// otherProcesses are the sandbox's processes that are not PID 1, its idle
// sleep, sshd (the listener and its per-connection children) or the
// inference.local stand-in.
func otherProcesses(t *testing.T, s *Sandbox) []string {
	t.Helper()
	procs, err := s.Processes()
	if err != nil {
		t.Fatal(err)
	}
	var other []string
	for _, p := range procs {
		cmd := strings.Join(p.Args, " ")
		switch {
		case p.NSPID == 1, p.State == "Z",
			len(p.Args) > 0 && p.Args[0] == "nemoclaw-lab-idle",
			p.Comm == "sshd",
			strings.HasSuffix(cmd, "/usr/local/lib/nemoclaw-lab/inference.js /run/nemoclaw-lab/state/tls.key /run/nemoclaw-lab/state/tls.crt"):
			continue
		}
		other = append(other, fmt.Sprintf("%d:%s", p.NSPID, cmd))
	}
	return other
}
