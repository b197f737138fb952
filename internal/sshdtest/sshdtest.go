// Package sshdtest runs a real Debian OpenSSH sshd for tests: on
// 127.0.0.1:<free port>, with a generated host key and client key, root
// login by key, and an OpenSSH client config plus known_hosts that both this
// project's transport and `ssh -F` accept.
//
// sshd runs as PID 1 of its own PID namespace, so Kill (and test cleanup)
// takes every session and command it started with it: nothing a test starts
// through sshd can outlive the test. It also has its own mount namespace,
// where passwd/group/shadow copies are bound over /etc: root logs in with a
// fresh, empty home (not the machine's /root and its rc files), and
// Options.User adds a non-root login. The host's files are never changed. It must not be used outside tests; it
// needs root (sshd and CLONE_NEWPID).
package sshdtest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/nemoclaw/nemoclaw-go/internal/accounts"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// SSHD is Debian's sshd. It must be started by absolute path (sshd re-execs
// itself; LAB-NOTES §5).
const SSHD = "/usr/sbin/sshd"

// startTimeout bounds how long sshd may take to report that it listens.
// Hang protection only.
const startTimeout = 20 * time.Second

// Options change how Start sets the server and its client config up.
type Options struct {
	// ProxyCommand makes the client config reach sshd through
	// `ProxyCommand socat STDIO TCP:%h:%p` instead of a direct TCP
	// connection (the shape OpenShell's ssh-config has).
	ProxyCommand bool
	// ServerConfig lines are appended to sshd_config.
	ServerConfig []string
	// ClientConfig lines are put first in the Host block of ConfigFile, so
	// they win over the defaults (OpenSSH takes the first value it reads).
	ClientConfig []string
	// User, when set, is a non-root account (uid/gid 1001, shell /bin/sh)
	// that the client logs in as instead of root, like the lab's
	// `sandbox`. It exists only inside sshd's own mount namespace (bind-
	// mounted passwd/group/shadow; the host's files are untouched). Root
	// logins behave differently in OpenSSH (no privilege-separated child,
	// so no `signal` requests), which is why some tests need this.
	User string
}

// Server is one running sshd and the client files that reach it.
type Server struct {
	// ConfigFile is an OpenSSH client config with a Host block for Host.
	ConfigFile string
	// Host is the alias in ConfigFile (also the HostKeyAlias).
	Host string
	// Addr is sshd's listen address, 127.0.0.1:<port>.
	Addr string
	Port int
	// KnownHosts pins the host key under the alias Host.
	KnownHosts string
	// IdentityFile is the client's private key (root may log in with it).
	IdentityFile string
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey
	// Dir holds every file of this server (a t.TempDir).
	Dir string
	// LogFile receives sshd's log (-e output, LogLevel VERBOSE).
	LogFile string
	// User is the account the client logs in as ("root" by default).
	User string
	// UserHome is User's home directory as sshd sees it: a fresh
	// directory, owned by User (root's real home is not used).
	UserHome string

	t        testing.TB
	opts     Options
	sshdCfg  string
	accounts string // dir of the passwd/group/shadow copies sshd sees

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs sshd with default options. See StartWith.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith runs sshd, writes its client config and known_hosts, and stops
// it (with every session) in t.Cleanup. It fails the test when sshd cannot
// run; without root or sshd it skips (fails in CI) through testenv.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, SSHD)
	testenv.RequireBinary(t, "ssh-keygen")
	if opts.ProxyCommand {
		testenv.RequireBinary(t, "socat")
	}
	if err := ensurePrivsepDir(); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}

	dir := t.TempDir()
	s := &Server{
		Dir:          dir,
		Host:         "sshdtest",
		ConfigFile:   filepath.Join(dir, "ssh_config"),
		KnownHosts:   filepath.Join(dir, "known_hosts"),
		IdentityFile: filepath.Join(dir, "id_ed25519"),
		LogFile:      filepath.Join(dir, "sshd.log"),
		sshdCfg:      filepath.Join(dir, "sshd_config"),
		t:            t,
		opts:         opts,
	}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	hostPub, err := writeKeyPair(hostKey)
	if err != nil {
		t.Fatalf("sshdtest: host key: %v", err)
	}
	s.HostKey = hostPub
	clientPub, err := writeKeyPair(s.IdentityFile)
	if err != nil {
		t.Fatalf("sshdtest: client key: %v", err)
	}
	// sshd reads authorized_keys as the user, so it and every directory
	// above it must be readable by the user: it lives beside the home.
	pub, err := s.setUpAccounts(t, opts.User)
	if err != nil {
		t.Fatalf("sshdtest: accounts: %v", err)
	}
	authKeys := filepath.Join(pub, "authorized_keys")
	if err := os.WriteFile(authKeys, ssh.MarshalAuthorizedKey(clientPub), 0o644); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	known := s.Host + " " + string(ssh.MarshalAuthorizedKey(hostPub))
	if err := os.WriteFile(s.KnownHosts, []byte(known), 0o600); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	t.Cleanup(s.Kill)

	// A free port can be taken between our probe and sshd's bind: retry.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		s.Port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := s.writeServerConfig(hostKey, authKeys); err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("sshdtest: start sshd: %v\n%s", lastErr, s.Log())
	}
	if err := os.WriteFile(s.ConfigFile, []byte(s.clientConfig(opts)), 0o600); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sshdtest: sshd log (%s):\n%s", s.LogFile, s.Log())
		}
	})
	return s
}

// Target is the transport's view of this server.
func (s *Server) Target() sandboxexec.SSHTarget {
	return sandboxexec.SSHTarget{ConfigFile: s.ConfigFile, Host: s.Host}
}

// Pid is the host PID of the listening sshd (0 when stopped).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Log returns what sshd logged so far, with the CRs of -e output removed.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogFile)
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// Kill stops sshd with SIGKILL. sshd is PID 1 of its PID namespace, so the
// kernel kills every session and command with it; connections drop. Safe to
// call twice and on a stopped server.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Restart kills sshd (if running) and starts it again on the same port with
// the same host key, so pinned clients can reconnect.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	// The port was free a moment ago and sshd sets SO_REUSEADDR; a few
	// retries cover a slow release of the old socket.
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("sshdtest: restart sshd: %v\n%s", err, s.Log())
}

// SessionPids lists the host PIDs of sshd's per-connection processes (the
// direct children of the listener), e.g. to kill one mid-command.
func (s *Server) SessionPids() []int {
	pid := s.Pid()
	if pid == 0 {
		return nil
	}
	return Children(pid)
}

// Children lists the PIDs whose parent is pid, from /proc.
func Children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Field 4 is the parent; the command (field 2) may contain spaces
		// and parentheses, so parse after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 2 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// WriteClientConfig writes another client config for this server (for
// variants: other known_hosts, StrictHostKeyChecking, a different address)
// and returns its path. Lines come first in the Host block, so they win.
func (s *Server) WriteClientConfig(t testing.TB, lines ...string) string {
	t.Helper()
	o := s.opts
	o.ClientConfig = append(append([]string(nil), lines...), o.ClientConfig...)
	f, err := os.CreateTemp(s.Dir, "ssh_config-*")
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(s.clientConfig(o)); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	return f.Name()
}

func (s *Server) clientConfig(o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Host %s\n", s.Host)
	for _, l := range o.ClientConfig {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	fmt.Fprintf(&b, "  HostName 127.0.0.1\n")
	fmt.Fprintf(&b, "  Port %d\n", s.Port)
	fmt.Fprintf(&b, "  User %s\n", s.User)
	fmt.Fprintf(&b, "  HostKeyAlias %s\n", s.Host)
	fmt.Fprintf(&b, "  IdentityFile %s\n", s.IdentityFile)
	fmt.Fprintf(&b, "  IdentitiesOnly yes\n")
	fmt.Fprintf(&b, "  UserKnownHostsFile %s\n", s.KnownHosts)
	fmt.Fprintf(&b, "  GlobalKnownHostsFile /dev/null\n")
	fmt.Fprintf(&b, "  StrictHostKeyChecking yes\n")
	fmt.Fprintf(&b, "  BatchMode yes\n")
	fmt.Fprintf(&b, "  ConnectTimeout 10\n")
	fmt.Fprintf(&b, "  LogLevel ERROR\n")
	if o.ProxyCommand {
		fmt.Fprintf(&b, "  ProxyCommand socat STDIO TCP:%%h:%%p\n")
	}
	return b.String()
}

func (s *Server) writeServerConfig(hostKey, authKeys string) error {
	lines := []string{
		"ListenAddress " + s.Addr,
		"HostKey " + hostKey,
		"PidFile none",
		"UsePAM no",
		// The keys live in a t.TempDir under /tmp (world-writable): the
		// StrictModes path check would refuse them.
		"StrictModes no",
		"AuthorizedKeysFile " + authKeys,
		"PermitRootLogin prohibit-password",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"AllowTcpForwarding yes",
		"X11Forwarding no",
		"PrintMotd no",
		"PrintLastLog no",
		"AcceptEnv NEMOCLAW_* LC_*",
		"MaxStartups 100",
		"MaxSessions 100",
		"LogLevel VERBOSE",
	}
	lines = append(lines, s.opts.ServerConfig...)
	return os.WriteFile(s.sshdCfg, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// start runs sshd and waits for "Server listening on"; an sshd that exits
// first (port taken, bad config) is an error carrying its log.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// PID 1 of a new PID namespace (Kill takes every session with it), in
	// a private mount namespace (Unshareflags also makes / rprivate, so
	// nothing leaks to the host) with the account files bound over /etc;
	// the shell then execs sshd, which stays PID 1.
	cmd := exec.Command("/bin/sh", "-c", `set -e
mount --bind "$1/passwd" /etc/passwd
mount --bind "$1/group" /etc/group
mount --bind "$1/shadow" /etc/shadow
exec "$2" -D -e -f "$3"`, "sh", s.accounts, SSHD, s.sshdCfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:   syscall.CLONE_NEWPID,
		Unshareflags: syscall.CLONE_NEWNS,
		Setpgid:      true,
		// If the test binary dies, sshd (and so its namespace) dies too.
		Pdeathsig: syscall.SIGKILL,
	}
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Dir = "/"
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logf.Close()
		return err
	}
	if err := startOnKeptThread(cmd); err != nil {
		logf.Close()
		return err
	}
	ready := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		defer logf.Close()
		sc := bufio.NewScanner(stderr)
		listening := "Server listening on " + s.Addr[:strings.LastIndexByte(s.Addr, ':')] + " port " + strconv.Itoa(s.Port)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, strings.TrimSuffix(line, "\r"))
			if !signalled && strings.Contains(line, listening) {
				close(ready)
				signalled = true
			}
		}
	}()
	done := make(chan struct{})
	var waitErr error
	go func() {
		<-copied
		waitErr = cmd.Wait()
		close(done)
	}()
	select {
	case <-ready:
		s.mu.Lock()
		s.cmd, s.done = cmd, done
		s.mu.Unlock()
		return nil
	case <-done:
		return fmt.Errorf("sshd exited before listening: %v", waitErr)
	case <-time.After(startTimeout):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return fmt.Errorf("sshd did not report listening within %s", startTimeout)
	}
}

// spawns carries start requests to the one OS thread sshd is started from.
// Pdeathsig fires when the *thread* that started the child exits, and Go
// ends threads whose locked goroutine returns (e2e/lab's Dial does that on
// purpose after setns): an sshd started from such a thread would be killed
// mid-test. So every sshd starts from a goroutine that locks its thread
// and never returns. Package state, on purpose: there is one such thread
// per test binary.
var (
	spawnOnce sync.Once
	spawns    chan spawnRequest
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func startOnKeptThread(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawns = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread()
			for r := range spawns {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawns <- spawnRequest{cmd, done}
	return <-done
}

// userID is the uid and gid of Options.User (the lab's sandbox uid).
const userID = 1001

// setUpAccounts writes the passwd/group/shadow copies that sshd sees (bound
// over /etc in its mount namespace) and a world-readable directory holding
// the login's home and authorized_keys; it returns that directory.
//
// Root keeps its uid and shell but gets this fresh home: Debian's bash
// reads ~/.bashrc for every command run through sshd, and the machine's
// root rc files (pyenv init, ...) cost seconds per command under load and
// are not what a sandbox has. With name set, that user is added (uid 1001,
// /bin/sh) and is the login.
func (s *Server) setUpAccounts(t testing.TB, name string) (string, error) {
	pub, err := os.MkdirTemp("", "sshdtest-home-")
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		return "", err
	}
	home := filepath.Join(pub, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		return "", err
	}
	s.accounts = filepath.Join(s.Dir, "accounts")
	if err := os.Mkdir(s.accounts, 0o700); err != nil {
		return "", err
	}
	var users []accounts.User
	if name != "" {
		if err := os.Chown(home, userID, userID); err != nil {
			return "", err
		}
		users = append(users, accounts.User{Name: name, ID: userID, Home: home, Shell: "/bin/sh"})
	}
	files, err := accounts.Copy("/etc", users...)
	if err != nil {
		return "", err
	}
	if name == "" {
		files["passwd"] = rootHome(files["passwd"], home)
	}
	for f, b := range files {
		mode := os.FileMode(0o644)
		if f == "shadow" {
			mode = 0o640
		}
		if err := os.WriteFile(filepath.Join(s.accounts, f), b, mode); err != nil {
			return "", err
		}
	}
	s.User, s.UserHome = "root", home
	if name != "" {
		s.User = name
	}
	return pub, nil
}

// rootHome replaces the home directory (field 6) of root's passwd line.
func rootHome(passwd []byte, home string) []byte {
	lines := strings.Split(string(passwd), "\n")
	for i, l := range lines {
		f := strings.Split(l, ":")
		if len(f) == 7 && f[0] == "root" {
			f[5] = home
			lines[i] = strings.Join(f, ":")
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

// ensurePrivsepDir creates /run/sshd (root, 0755) when missing: sshd refuses
// to start without it, and Debian only creates it from its init scripts,
// which do not run on this kind of machine.
func ensurePrivsepDir() error {
	const dir = "/run/sshd"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return os.Chmod(dir, 0o755)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeKeyPair writes an OpenSSH ed25519 private key (0600) at path and its
// .pub beside it, and returns the public key.
func writeKeyPair(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "sshdtest")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(sshPub), 0o644); err != nil {
		return nil, err
	}
	return sshPub, nil
}
