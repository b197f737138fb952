package lab

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"embed"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/nemoclaw/nemoclaw-go/internal/accounts"
	"github.com/nemoclaw/nemoclaw-go/internal/shellquote"
)

//go:embed image
var image embed.FS

// The sandbox's accounts (LAB-NOTES §1, §4). `*` in shadow: with UsePAM an
// account needs a shadow line, and a `!` password would be "locked".
const (
	sandboxUID = 1001
	gatewayUID = 1002
)

// insideState is where init.sh binds the state directory inside the sandbox.
const insideState = "/run/nemoclaw-lab/state"

// openClawHomeInside is the real OpenClaw gateway's HOME inside the sandbox.
const openClawHomeInside = "/sandbox/.openclaw-lab-home"

// writeFile writes data with mode perm, creating parent directories 0700.
func writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		return err
	}
	return os.Chmod(path, perm)
}

// writeAccounts writes the sandbox's passwd, group, shadow (see package
// accounts: the host's, minus clashes, plus sandbox and gateway) and hosts
// under Dir/etc.
func (s *Sandbox) writeAccounts() error {
	files, err := accounts.Copy("/etc",
		accounts.User{Name: "sandbox", ID: sandboxUID, Home: "/sandbox", Shell: "/bin/bash"},
		accounts.User{Name: "gateway", ID: gatewayUID, Home: "/sandbox", Shell: "/usr/sbin/nologin"})
	if err != nil {
		return err
	}
	for name, data := range files {
		perm := os.FileMode(0o644)
		if name == "shadow" {
			perm = 0o640
		}
		if err := writeFile(s.path("etc", name), data, perm); err != nil {
			return err
		}
	}
	if gid, ok := groupID("shadow"); ok {
		_ = os.Chown(s.path("etc", "shadow"), 0, gid)
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.0.1\tinference.local\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n", s.Name)
	return writeFile(s.path("etc", "hosts"), []byte(hosts), 0o644)
}

func groupID(name string) (int, bool) {
	data, err := os.ReadFile("/etc/group")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 2 && f[0] == name {
			id, err := strconv.Atoi(f[2])
			return id, err == nil
		}
	}
	return 0, false
}

// writeKeyPair writes an ed25519 private key (OpenSSH format, 0600) at path
// and its public key at path.pub, and returns the public key line.
func writeKeyPair(path, comment string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return "", err
	}
	if err := writeFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + comment
	return line, writeFile(path+".pub", []byte(line+"\n"), 0o644)
}

// writeTLS writes a self-signed certificate for inference.local and its key.
func (s *Sandbox) writeTLS() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "inference.local", Organization: []string{"nemoclaw-lab"}},
		DNSNames:              []string{"inference.local"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFile(s.path("tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return writeFile(s.path("tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// envFile renders NAME='value' lines, sorted by the caller's order.
func envFile(kv ...string) []byte {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "%s=%s\n", kv[i], shellquote.Quote(kv[i+1]))
	}
	return []byte(b.String())
}

// sshUsers are the accounts sshd admits.
func (s *Sandbox) sshUsers() []string {
	if s.Options.ExecUser == UserRoot {
		return []string{UserSandbox, UserRoot}
	}
	return []string{UserSandbox}
}

// writeSSHFiles writes the host key, the client key pair, sshd_config, the
// pinned known_hosts and the client config. The known_hosts line comes from
// the key generated here: no trust on first use.
func (s *Sandbox) writeSSHFiles(labBinary string) error {
	hostPub, err := writeKeyPair(s.path("ssh_host_ed25519_key"), "nemoclaw-lab-"+s.Name+"-host")
	if err != nil {
		return fmt.Errorf("generating the host key: %w", err)
	}
	if _, err := writeKeyPair(s.path("client", "id_ed25519"), "nemoclaw-lab-"+s.Name); err != nil {
		return fmt.Errorf("generating the client key: %w", err)
	}
	rootLogin := "no"
	if s.Options.ExecUser == UserRoot {
		rootLogin = "prohibit-password"
	}
	sshd := strings.Join([]string{
		"# sshd for nemoclaw-lab sandbox " + s.Name + " (paths as seen inside the sandbox)",
		"ListenAddress 127.0.0.1:22",
		"HostKey " + insideState + "/ssh_host_ed25519_key",
		"PidFile none",
		"UsePAM yes",
		"AuthorizedKeysFile /run/nemoclaw-lab/authorized_keys/%u",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin " + rootLogin,
		"AllowUsers " + strings.Join(s.sshUsers(), " "),
		"AllowTcpForwarding local",
		"X11Forwarding no",
		"PrintMotd no",
		"MaxSessions 32",
		"MaxStartups 64:30:128",
		"Subsystem sftp internal-sftp",
		"LogLevel VERBOSE",
		"",
	}, "\n")
	if err := writeFile(s.path("sshd_config"), []byte(sshd), 0o600); err != nil {
		return err
	}
	f := strings.Fields(hostPub)
	if err := writeFile(s.KnownHosts, []byte(s.Host+" "+f[0]+" "+f[1]+"\n"), 0o600); err != nil {
		return err
	}
	// ssh expands %-tokens in ProxyCommand: double any literal '%'.
	proxy := strings.ReplaceAll(shellquote.Quote(labBinary)+" proxy --lab-dir "+shellquote.Quote(s.Options.LabDir)+" "+s.Name, "%", "%%")
	user := UserSandbox
	if s.Options.ExecUser == UserRoot {
		user = UserRoot
	}
	cfg := strings.Join([]string{
		"# nemoclaw-lab sandbox " + s.Name + ": written by `nemoclaw-lab up`",
		"Host " + s.Host,
		"  HostName 127.0.0.1",
		"  Port 22",
		"  HostKeyAlias " + s.Host,
		"  User " + user,
		"  IdentityFile " + s.path("client", "id_ed25519"),
		"  IdentitiesOnly yes",
		"  UserKnownHostsFile " + s.KnownHosts,
		"  GlobalKnownHostsFile /dev/null",
		"  StrictHostKeyChecking yes",
		"  BatchMode yes",
		"  LogLevel ERROR",
		"  ProxyCommand " + proxy,
		"",
	}, "\n")
	return writeFile(s.SSHConfig, []byte(cfg), 0o600)
}

// gatewayUser is who a root entrypoint starts the gateway as. OpenClaw
// images use the gateway user; Hermes images the sandbox user. The real
// OpenClaw gateway writes its state into its home, so it runs as the user a
// recovery will relaunch it as: gateway when recovery runs as root (it uses
// gosu gateway), sandbox when recovery runs as sandbox; otherwise a
// relaunched gateway could not write the home the first one made.
func (s *Sandbox) gatewayUser() string {
	switch {
	case s.Options.Agent == AgentHermes:
		return UserSandbox
	case s.Options.Gateway == GatewayOpenClaw && s.Options.ExecUser != UserRoot:
		return UserSandbox
	}
	return UserGateway
}

// writeImage writes what init.sh installs into the sandbox's overlays: the
// scripts, the trusted preloads with their SHA256SUMS, and the agent binary
// (a stub gateway, or the real OpenClaw's wrapper).
func (s *Sandbox) writeImage(agentBinary []byte) error {
	copyOut := func(name, dest string, perm os.FileMode) ([]byte, error) {
		data, err := image.ReadFile("image/" + name)
		if err != nil {
			return nil, err
		}
		return data, writeFile(s.path("image", dest), data, perm)
	}
	for _, f := range []string{"init.sh", "entrypoint.sh", "inference.js"} {
		if _, err := copyOut(f, f, 0o700); err != nil {
			return err
		}
	}
	var sums strings.Builder
	for _, f := range []string{"ciao-network-guard.js", "sandbox-safety-net.js"} {
		data, err := copyOut(f, filepath.Join("preloads", f), 0o644)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), f)
	}
	if err := writeFile(s.path("image", "preloads", "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		return err
	}
	if agentBinary == nil {
		stub, err := image.ReadFile("image/stub-gateway.js")
		if err != nil {
			return err
		}
		agentBinary = append([]byte(fmt.Sprintf("#!/usr/bin/node\nconst LAB_HERMES_DASHBOARD_PORT = %d;\n", s.Options.Port)), stub...)
	}
	if err := writeFile(s.path("image", "bin", s.Options.Agent), agentBinary, 0o755); err != nil {
		return err
	}
	legacy := "0"
	if s.Options.LegacyProxyEnv {
		legacy = "1"
	}
	if err := writeFile(s.path("image", "entrypoint.env"), envFile(
		"LAB_AGENT", s.Options.Agent,
		"LAB_PORT", strconv.Itoa(s.Options.Port),
		"LAB_LEGACY", legacy,
		"LAB_GATEWAY_USER", s.gatewayUser(),
		// Nothing listens there: proxied traffic fails fast, as it would
		// for a destination the sandbox policy denies.
		"LAB_PROXY_URL", "http://127.0.0.1:3128",
	), 0o644); err != nil {
		return err
	}
	return writeFile(s.path("lab.env"), envFile(
		"LAB_NAME", s.Name,
		"LAB_AGENT", s.Options.Agent,
		"LAB_GATEWAY", s.Options.Gateway,
		"LAB_ENTRYPOINT_MODE", s.Options.EntrypointMode,
		"LAB_SSH_USERS", strings.Join(s.sshUsers(), " "),
		"LAB_OPENCLAW_HOME", openClawHomeInside,
	), 0o600)
}
