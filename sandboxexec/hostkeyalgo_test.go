package sandboxexec_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// A server with an ECDSA and an ed25519 host key, pinned by its ed25519 key
// only: x/crypto prefers ECDSA, so without HostKeyAlgorithms taken from the
// pinned entry a correct server would look like a key mismatch.
func TestHostKeyAlgorithmsFromPinnedEntry(t *testing.T) {
	t.Parallel()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "ecdsa host key")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "ssh_host_ecdsa_key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	s := sshdtest.StartWith(t, sshdtest.Options{ServerConfig: []string{"HostKey " + keyFile}})

	// Control: left to its defaults, the client is shown the ECDSA key.
	var offered string
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, _ = ssh.NewClientConn(conn, s.Addr, &ssh.ClientConfig{
		User: "root",
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			offered = k.Type()
			return errors.New("control: stop after the host key")
		},
	})
	conn.Close()
	if offered != ssh.KeyAlgoECDSA256 {
		t.Fatalf("control: default negotiation chose %q; this test needs a server that prefers ECDSA", offered)
	}

	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	tr, err := sandboxexec.DialSSH(ctx, s.Target(), sandboxexec.SSHOptions{})
	if err != nil {
		t.Fatalf("DialSSH with only the ed25519 key pinned: %v", err)
	}
	tr.Close()
}
