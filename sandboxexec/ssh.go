package sandboxexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// SSHOptions are the local facts DialSSH needs besides the config.
type SSHOptions struct {
	// Getenv reads HOME (for ~ and default files), USER (default remote
	// user) and SSH_AUTH_SOCK (the agent). Nil means os.Getenv.
	Getenv func(string) string
	// Name is how errors name the target, e.g. the sandbox name. Empty
	// means the Host alias.
	Name string
}

// SSHTransport is one SSH connection to a sandbox, reused for every
// command and dial of a run (SPEC §4.1). It implements Transport.
type SSHTransport struct {
	name   string
	cfg    *sshConfig
	client *ssh.Client

	done     chan struct{} // closed when the connection is gone
	errMu    sync.Mutex
	err      error // why it ended
	closing  atomic.Bool
	shutdown sync.Once
}

var _ Transport = (*SSHTransport)(nil)

// DialSSH connects to t.Host as configured in t.ConfigFile and
// authenticates: `none` first (x/crypto always tries it first; OpenShell's
// in-sandbox server accepts it behind its proxy), then the IdentityFile
// keys, then the agent's. ConnectTimeout bounds TCP connect (or the
// ProxyCommand start) and the whole SSH handshake together; ctx can cut it
// shorter.
//
// Errors: *ConfigError (2), *HostKeyError (6), *UnreachableError (3), or
// ctx's error when ctx ended first.
func DialSSH(ctx context.Context, t SSHTarget, opts SSHOptions) (*SSHTransport, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	name := opts.Name
	if name == "" {
		name = t.Host
	}
	cfg, err := loadSSHConfig(t, getenv)
	if err != nil {
		return nil, err
	}
	hostKeyCallback, algos, err := hostKeyPolicy(cfg)
	if err != nil {
		return nil, &ConfigError{Path: t.ConfigFile, Err: err}
	}
	auth, closeAuth := authMethods(cfg, getenv)
	defer closeAuth()

	deadline := time.Now().Add(cfg.ConnectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var conn net.Conn
	var proxy *commandConn
	if cfg.ProxyCommand != "" {
		proxy, err = dialProxyCommand(dctx, cfg.ProxyCommand, os.Environ())
		conn = proxy
	} else {
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", net.JoinHostPort(cfg.HostName, strconv.Itoa(cfg.Port)))
		if err == nil {
			conn = withQuickAck(conn)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to %s: %w", name, ctx.Err())
		}
		if dctx.Err() != nil {
			err = fmt.Errorf("no connection within ConnectTimeout %s: %w", cfg.ConnectTimeout, err)
		}
		return nil, &UnreachableError{Host: name, Op: "connect to", Err: err}
	}

	// One deadline for the whole handshake (x/crypto's Timeout covers only
	// the TCP connect); ctx ending pulls it in to now.
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	clientConfig := &ssh.ClientConfig{
		Config:            ssh.Config{Ciphers: preferredCiphers()},
		User:              cfg.User,
		Auth:              auth,
		HostKeyCallback:   hostKeyCallback,
		HostKeyAlgorithms: algos,
	}
	sshConn, chans, reqs, err := ssh.NewClientConn(conn, net.JoinHostPort(cfg.HostName, strconv.Itoa(cfg.Port)), clientConfig)
	stopped := stop()
	if err != nil {
		detail := ""
		if proxy != nil {
			detail = proxy.failure(500 * time.Millisecond)
		}
		conn.Close()
		return nil, handshakeError(ctx, !stopped, name, cfg, err, detail)
	}
	_ = conn.SetDeadline(time.Time{})

	tr := &SSHTransport{
		name:   name,
		cfg:    cfg,
		client: ssh.NewClient(sshConn, chans, reqs),
		done:   make(chan struct{}),
	}
	go tr.watch()
	if cfg.ServerAliveInterval > 0 {
		go tr.keepalive(cfg.ServerAliveInterval, cfg.ServerAliveCountMax)
	}
	return tr, nil
}

func loadSSHConfig(t SSHTarget, getenv func(string) string) (*sshConfig, error) {
	env := localEnv{Home: getenv("HOME"), User: getenv("USER")}
	if env.Home == "" {
		env.Home, _ = os.UserHomeDir()
	}
	if env.User == "" {
		if u, err := user.Current(); err == nil {
			env.User = u.Username
		}
	}
	b, err := os.ReadFile(t.ConfigFile)
	if err != nil {
		return nil, &ConfigError{Path: t.ConfigFile, Err: err}
	}
	cfg, err := readSSHConfig(bytes.NewReader(b), t.Host, env)
	if err != nil {
		return nil, &ConfigError{Path: t.ConfigFile, Err: err}
	}
	return cfg, nil
}

// handshakeError classifies a failed NewClientConn.
func handshakeError(ctx context.Context, ctxEnded bool, name string, cfg *sshConfig, err error, proxyDetail string) error {
	var hk *HostKeyError
	if errors.As(err, &hk) {
		return hk
	}
	if ctxEnded && ctx.Err() != nil {
		return fmt.Errorf("ssh handshake with %s: %w", name, ctx.Err())
	}
	op := "ssh handshake with"
	if strings.Contains(err.Error(), "unable to authenticate") {
		op = "authenticate as " + cfg.User + " to"
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("no SSH handshake within ConnectTimeout %s (the peer accepted but did not speak SSH in time)", cfg.ConnectTimeout)
	}
	if proxyDetail != "" {
		err = fmt.Errorf("%w (%s)", err, proxyDetail)
	}
	return &UnreachableError{Host: name, Op: op, Err: err}
}

// authMethods builds the publickey method from the IdentityFile keys and the
// agent's keys, in that order. They must be one method: x/crypto tries each
// method name once, so a second publickey method would never run. Keys
// that cannot be used (missing, passphrase-protected: there is no prompt)
// are skipped as OpenSSH does in BatchMode. With IdentitiesOnly, only
// agent keys matching a configured identity are offered.
func authMethods(cfg *sshConfig, getenv func(string) string) ([]ssh.AuthMethod, func()) {
	var signers []ssh.Signer
	var pinned [][]byte
	for _, f := range cfg.IdentityFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			if pub, perr := readPublicKey(f + ".pub"); perr == nil {
				pinned = append(pinned, pub.Marshal())
			}
			continue
		}
		signers = append(signers, s)
		pinned = append(pinned, s.PublicKey().Marshal())
	}
	var agentConn net.Conn
	closeAuth := func() {}
	if sock := getenv("SSH_AUTH_SOCK"); sock != "" {
		if c, err := net.DialTimeout("unix", sock, 2*time.Second); err == nil {
			agentConn = c
			closeAuth = func() { c.Close() }
		}
	}
	callback := func() ([]ssh.Signer, error) {
		out := append([]ssh.Signer(nil), signers...)
		if agentConn == nil {
			return out, nil
		}
		agentSigners, err := agent.NewClient(agentConn).Signers()
		if err != nil {
			return out, nil
		}
		for _, s := range agentSigners {
			if cfg.IdentitiesOnly && !containsKey(pinned, s.PublicKey().Marshal()) {
				continue
			}
			if containsKey(keysOf(out), s.PublicKey().Marshal()) {
				continue
			}
			out = append(out, s)
		}
		return out, nil
	}
	return []ssh.AuthMethod{ssh.PublicKeysCallback(callback)}, closeAuth
}

func readPublicKey(path string) (ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	return k, err
}

func keysOf(signers []ssh.Signer) [][]byte {
	out := make([][]byte, len(signers))
	for i, s := range signers {
		out[i] = s.PublicKey().Marshal()
	}
	return out
}

func containsKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if bytes.Equal(x, k) {
			return true
		}
	}
	return false
}

// watch closes Done when the connection ends, for whatever reason.
func (t *SSHTransport) watch() {
	err := t.client.Wait()
	if err == nil || t.closing.Load() {
		err = errors.New("connection closed")
	}
	t.setErr(err)
	close(t.done)
}

func (t *SSHTransport) setErr(err error) {
	t.errMu.Lock()
	defer t.errMu.Unlock()
	if t.err == nil {
		t.err = err
	}
}

// keepalive sends keepalive@openssh.com every interval and closes the
// connection after countMax intervals without a reply. It counts missing
// replies, not the reply's success flag: OpenSSH answers "failure" to a
// request it does not implement, and that answer proves the peer alive.
// A request still unanswered at the next tick is a miss; a wedged proxy
// (writes accepted, nothing back) is noticed after about
// (countMax+1)*interval, as with OpenSSH.
func (t *SSHTransport) keepalive(interval time.Duration, countMax int) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var outstanding atomic.Bool
	misses := 0
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		}
		if outstanding.Load() {
			misses++
			if misses >= countMax {
				t.setErr(fmt.Errorf("no reply to %d keepalives over %s (ServerAliveInterval %s, ServerAliveCountMax %d)",
					misses, time.Duration(misses+1)*interval, interval, countMax))
				t.client.Close()
				return
			}
			continue
		}
		misses = 0
		outstanding.Store(true)
		go func() {
			if _, _, err := t.client.SendRequest("keepalive@openssh.com", true, nil); err == nil {
				outstanding.Store(false)
			}
		}()
	}
}

// Done is closed when the connection is gone: closed, dropped by the peer,
// or declared dead by the keepalive.
func (t *SSHTransport) Done() <-chan struct{} { return t.done }

// Err says why the connection ended (nil while it is alive).
func (t *SSHTransport) Err() error {
	select {
	case <-t.done:
	default:
		return nil
	}
	t.errMu.Lock()
	defer t.errMu.Unlock()
	return t.err
}

// deadErr is the error for using a connection that has ended.
func (t *SSHTransport) deadErr(op string) error {
	err := t.Err()
	if err == nil {
		err = errors.New("connection closed")
	}
	return &UnreachableError{Host: t.name, Op: op, Err: err}
}

// Run starts cmd.Script in a session (an empty Script starts the login
// shell, which reads its commands from Stdin) and waits for it. Env is set
// best-effort (sshd drops names its AcceptEnv does not list). When ctx ends
// first, the command gets SIGTERM, then the session is closed; the error is
// ctx's. Nothing is written to cmd.Stdout or cmd.Stderr after Run returns.
func (t *SSHTransport) Run(ctx context.Context, cmd Command) (Outcome, error) {
	sess, out, err := t.newSession(cmd)
	if err != nil {
		return Outcome{Kind: Indeterminate}, err
	}
	defer sess.Close()
	defer out.shut()
	if err := feedStdin(sess, cmd.Stdin); err != nil {
		return Outcome{Kind: Indeterminate}, &UnreachableError{Host: t.name, Op: "open stdin on", Err: err}
	}
	if cmd.Script == "" {
		err = sess.Shell() // the login shell, reading stdin (no terminal)
	} else {
		err = sess.Start(cmd.Script)
	}
	if err != nil {
		return Outcome{Kind: Indeterminate}, &UnreachableError{Host: t.name, Op: "start command on", Err: err}
	}
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	select {
	case err := <-waited:
		return outcomeOf(err)
	case <-ctx.Done():
	}
	_ = sess.Signal(ssh.SIGTERM)
	return Outcome{Kind: Indeterminate}, fmt.Errorf("run on %s: %w", t.name, abandon(ctx, sess, waited))
}

// newSession opens a session for cmd with its environment set and its
// output routed through a gate (see outputGate).
func (t *SSHTransport) newSession(cmd Command) (*ssh.Session, *outputGate, error) {
	select {
	case <-t.done:
		return nil, nil, t.deadErr("open session on")
	default:
	}
	sess, err := t.client.NewSession()
	if err != nil {
		return nil, nil, &UnreachableError{Host: t.name, Op: "open session on", Err: err}
	}
	for k, v := range cmd.Env {
		_ = sess.Setenv(k, v)
	}
	out := &outputGate{}
	sess.Stdout, sess.Stderr = out.wrap(cmd.Stdout), out.wrap(cmd.Stderr)
	return sess, out, nil
}

// abandon ends a session whose caller gave up (ctx ended) after it was
// signalled: a moment for the command to act on the signal, then the
// channel is closed and, briefly, its output copies are let drain. It
// returns ctx's error, which is what counts: the command's status, if it
// came, arrived after the caller stopped caring.
func abandon(ctx context.Context, sess *ssh.Session, waited <-chan error) error {
	grace := time.NewTimer(time.Second)
	defer grace.Stop()
	select {
	case <-waited:
		return ctx.Err()
	case <-grace.C:
	}
	sess.Close()
	// Wait returns once the copies end; they end when the channel's close
	// is acknowledged, or when the connection dies. The gate makes the
	// caller's writers safe either way; this only avoids leaving copies
	// behind on a live connection.
	drain := time.NewTimer(time.Second)
	defer drain.Stop()
	select {
	case <-waited:
	case <-drain.C:
	}
	return ctx.Err()
}

// outputGate stands between a session's output copies (goroutines of
// x/crypto/ssh) and the caller's writers. Once shut, which Run and RunPTY
// do before they return, writes are swallowed: a copy still draining a
// cancelled command can never write into a buffer or terminal the caller
// has moved on with.
type outputGate struct {
	mu     sync.Mutex
	closed bool
}

func (g *outputGate) wrap(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return gatedWriter{g: g, w: w}
}

func (g *outputGate) shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

type gatedWriter struct {
	g *outputGate
	w io.Writer
}

func (w gatedWriter) Write(p []byte) (int, error) {
	w.g.mu.Lock()
	defer w.g.mu.Unlock()
	if w.g.closed {
		return len(p), nil
	}
	return w.w.Write(p)
}

// feedStdin copies r to the session's stdin and then closes it (EOF). It is
// not the session's own Stdin handling on purpose: that reports a command
// which exits without reading all its input (`true` with a payload) as a
// copy error, and OpenSSH simply drops unread input. A write failing
// because the command is gone is not an error here; the outcome says how
// the command ended.
func feedStdin(sess *ssh.Session, r io.Reader) error {
	if r == nil {
		return nil // x/crypto then sends EOF at once
	}
	w, err := sess.StdinPipe()
	if err != nil {
		return err
	}
	go func() {
		_, _ = io.Copy(w, r)
		_ = w.Close()
	}()
	return nil
}

// outcomeOf maps Session.Wait's result onto an Outcome.
func outcomeOf(err error) (Outcome, error) {
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return Outcome{Kind: Exited}, nil
	case errors.As(err, &exit):
		if s := exit.Signal(); s != "" {
			return Outcome{Kind: Signaled, Signal: s}, nil
		}
		return Outcome{Kind: Exited, Code: exit.ExitStatus()}, nil
	case errors.As(err, &missing):
		return Outcome{Kind: Indeterminate}, nil
	default:
		// The status was 0 but copying stdio failed on our side (a writer
		// returned an error): the command's output did not all arrive.
		return Outcome{Kind: Exited}, fmt.Errorf("copy command output: %w", err)
	}
}

// Dial opens a direct-tcpip channel to addr as seen from the sandbox. A
// refused port gives a *DialError that says "connection refused" and
// matches errors.Is(err, syscall.ECONNREFUSED).
func (t *SSHTransport) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("dial %s inside %s: network %q not supported", addr, t.name, network)
	}
	select {
	case <-t.done:
		return nil, t.deadErr("dial through")
	default:
	}
	c, err := t.client.DialContext(ctx, network, addr)
	if err == nil {
		return c, nil
	}
	var oce *ssh.OpenChannelError
	if errors.As(err, &oce) {
		return nil, &DialError{Addr: addr, Host: t.name, Err: err, rejected: true,
			Refused: strings.Contains(strings.ToLower(oce.Message), "connection refused")}
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("dial %s inside %s: %w", addr, t.name, ctx.Err())
	}
	select {
	case <-t.done:
		return nil, t.deadErr("dial through")
	default:
	}
	return nil, &DialError{Addr: addr, Host: t.name, Err: err}
}

// DialError is a dial inside the sandbox that failed: the sandbox's sshd
// answered no (RejectedBySandbox), or the dial could not complete.
type DialError struct {
	Addr, Host string
	Refused    bool // the port is closed ("Connection refused" from sshd)
	Err        error
	rejected   bool // the sandbox answered the channel open with a refusal
}

func (e *DialError) Error() string {
	if e.Refused {
		return fmt.Sprintf("dial %s inside %s: connection refused", e.Addr, e.Host)
	}
	return fmt.Sprintf("dial %s inside %s: %v", e.Addr, e.Host, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// RejectedBySandbox reports that the sandbox itself answered no (the port
// is closed, or forwarding is forbidden there): the connection to the
// sandbox is fine, so there is nothing to reconnect. The forward tells this
// apart through a one-method interface, without knowing SSH.
func (e *DialError) RejectedBySandbox() bool { return e.rejected }

// Is makes a refused dial match syscall.ECONNREFUSED, like a local one.
func (e *DialError) Is(target error) bool { return e.Refused && target == syscall.ECONNREFUSED }

// Close ends the connection (and a ProxyCommand with it). Commands still
// running in it end as Indeterminate.
func (t *SSHTransport) Close() error {
	t.shutdown.Do(func() {
		t.closing.Store(true)
		t.client.Close()
	})
	<-t.done
	return nil
}
