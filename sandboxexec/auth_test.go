package sandboxexec_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// startAgent serves an SSH agent holding the key in keyFile on a unix
// socket until the test ends, and returns the socket path.
func startAgent(t *testing.T, keyFile string) string {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ssh.ParseRawPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _ = agent.ServeAgent(keyring, c) }()
		}
	}()
	return sock
}

// Keys from IdentityFile, then the agent; IdentitiesOnly keeps the agent's
// other keys out; a refused login is unreachable (exit 3) and says
// "authenticate".
func TestAuthKeysThenAgent(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	dir := t.TempDir()
	wrongKey := filepath.Join(dir, "id_wrong")
	_, wrongPriv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(wrongPriv, "not authorized")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wrongKey, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := startAgent(t, s.IdentityFile)
	config := func(identitiesOnly string) string {
		p := filepath.Join(dir, "config-"+identitiesOnly)
		body := fmt.Sprintf("Host %s\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  HostKeyAlias %s\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  IdentityFile %s\n  IdentitiesOnly %s\n",
			s.Host, s.Port, s.User, s.Host, s.KnownHosts, wrongKey, identitiesOnly)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		why            string
		identitiesOnly string
		agentSock      string
		ok             bool
	}{
		{"only a key the server does not accept: refused", "no", "", false},
		{"the agent holds the right key: accepted after the file's key", "no", sock, true},
		{"IdentitiesOnly yes: the agent's unconfigured key is not offered", "yes", sock, false},
	}
	for _, c := range cases {
		getenv := func(k string) string {
			if k == "SSH_AUTH_SOCK" {
				return c.agentSock
			}
			return os.Getenv(k)
		}
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		tr, err := sandboxexec.DialSSH(ctx, sandboxexec.SSHTarget{ConfigFile: config(c.identitiesOnly), Host: s.Host}, sandboxexec.SSHOptions{Getenv: getenv})
		cancel()
		if c.ok {
			if err != nil {
				t.Errorf("%s: %v", c.why, err)
				continue
			}
			tr.Close()
			continue
		}
		var ue *sandboxexec.UnreachableError
		if !errors.As(err, &ue) || ue.ExitCode() != 3 || !strings.Contains(err.Error(), "authenticate") {
			t.Errorf("%s: err = %v, want an authentication *UnreachableError", c.why, err)
		}
	}
}

// Env reaches the command when sshd accepts the name (sshdtest's AcceptEnv
// lists NEMOCLAW_*), and a name it refuses does not fail the command.
func TestRunEnv(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	tr := dial(t, s.Target())
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	var out strings.Builder
	got, err := tr.Run(ctx, sandboxexec.Command{
		Script: `printf '%s|%s' "$NEMOCLAW_RUN_ID" "${REFUSED_BY_SSHD-unset}"`,
		Env:    map[string]string{"NEMOCLAW_RUN_ID": "it's 1 $x", "REFUSED_BY_SSHD": "x"},
		Stdout: &out,
	})
	if err != nil || got.Code != 0 {
		t.Fatalf("Run: %v %v", got, err)
	}
	if out.String() != "it's 1 $x|unset" {
		t.Errorf("env seen remotely: %q", out.String())
	}
}
