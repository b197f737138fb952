package sandboxexec

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/internal/shellquote"
)

// OpenShellNotFound is the message SPEC §4.2 fixes for a missing CLI.
const OpenShellNotFound = "openshell CLI not found. Install OpenShell before using sandbox commands."

// openShellCallTimeout bounds one short openshell call (`sandbox get`,
// `sandbox ssh-config`, `forward list|stop`), which could otherwise hang a
// run on an unresponsive gateway. Hang protection; ctx can cut it shorter.
const openShellCallTimeout = 60 * time.Second

// OpenShellNotFoundError: no openshell binary where §4.2 looks. Exit 3:
// the sandbox cannot be inspected.
type OpenShellNotFoundError struct{}

func (*OpenShellNotFoundError) Error() string { return OpenShellNotFound }
func (*OpenShellNotFoundError) ExitCode() int { return exitcode.Unreachable }

// OpenShellOptions are the local facts DialOpenShell needs.
type OpenShellOptions struct {
	// Getenv reads NEMOCLAW_OPENSHELL_BIN, PATH and HOME (and what
	// DialSSH reads). Nil means os.Getenv.
	Getenv func(string) string
	// ExecOnly skips `sandbox ssh-config` and uses the exec fallback.
	ExecOnly bool
	// Gateway is the OpenShell gateway to talk to (the registry's
	// gatewayName). When set, every openshell invocation carries the global
	// `-g <gateway>`; empty leaves the choice to OpenShell (its
	// OPENSHELL_GATEWAY, else its active gateway).
	Gateway string
}

// openShellArgv puts OpenShell's global gateway flag in front of args.
// OpenShell's CLI declares `-g/--gateway` once, on its root command, as a
// global flag; placed first it is read the same way by every subcommand.
func openShellArgv(gateway string, args ...string) []string {
	if gateway == "" {
		return args
	}
	return append([]string{"-g", gateway}, args...)
}

// OpenShellFixedPaths are the places ResolveOpenShell looks last, after
// NEMOCLAW_OPENSHELL_BIN, PATH and ~/.local/bin (SPEC §4.2).
var OpenShellFixedPaths = []string{"/usr/local/bin/openshell"}

// ResolveOpenShell finds the openshell CLI (SPEC §4.2):
// NEMOCLAW_OPENSHELL_BIN (must be absolute), then PATH, then
// ~/.local/bin/openshell, then each of fixed (OpenShellFixedPaths in
// production; tests pass their own so the not-found case is checked on any
// machine).
func ResolveOpenShell(getenv func(string) string, fixed []string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if p := getenv("NEMOCLAW_OPENSHELL_BIN"); p != "" {
		if !filepath.IsAbs(p) {
			return "", &ConfigError{Path: "NEMOCLAW_OPENSHELL_BIN", Err: fmt.Errorf("%q is not an absolute path", p)}
		}
		if !isExecutable(p) {
			return "", &ConfigError{Path: "NEMOCLAW_OPENSHELL_BIN", Err: fmt.Errorf("%s is not an executable file", p)}
		}
		return p, nil
	}
	for _, dir := range filepath.SplitList(getenv("PATH")) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // a relative PATH entry would depend on the cwd
		}
		if p := filepath.Join(dir, "openshell"); isExecutable(p) {
			return p, nil
		}
	}
	var candidates []string
	if home := getenv("HOME"); home != "" {
		candidates = append(candidates, filepath.Join(home, ".local", "bin", "openshell"))
	}
	candidates = append(candidates, fixed...)
	for _, p := range candidates {
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", &OpenShellNotFoundError{}
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// DialOpenShell opens a transport to an OpenShell sandbox (SPEC §4.2):
// the phase check first, then SSH over the ProxyCommand of
// `openshell sandbox ssh-config`, or, when OpenShell cannot give an
// ssh-config, the exec-only fallback (*OpenShellExecTransport).
//
// A connection failure through a config OpenShell gave is reported as is
// (exit 3, or 6 for a host key), not hidden by falling back: the fallback
// would then fail later and less clearly, and could not forward anyway.
func DialOpenShell(ctx context.Context, name string, opts OpenShellOptions) (Transport, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	bin, err := ResolveOpenShell(getenv, OpenShellFixedPaths)
	if err != nil {
		return nil, err
	}
	if err := openShellPhase(ctx, bin, opts.Gateway, name); err != nil {
		return nil, err
	}
	if !opts.ExecOnly {
		cfg, err := openShellCall(ctx, bin, opts.Gateway, "sandbox", "ssh-config", name)
		if err == nil && len(bytes.TrimSpace(cfg.stdout)) > 0 {
			return dialOpenShellSSH(ctx, name, cfg.stdout, getenv)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("openshell sandbox ssh-config %s: %w", name, ctx.Err())
		}
	}
	return &OpenShellExecTransport{bin: bin, gateway: opts.Gateway, name: name}, nil
}

// openShellPhase runs `openshell sandbox get <name>`: NotFound means the
// sandbox is gone (exit 1, registry kept); any other failure, or a phase
// other than Ready, means it cannot be inspected now (exit 3) and the
// message is OpenShell's.
func openShellPhase(ctx context.Context, bin, gateway, name string) error {
	res, err := openShellCall(ctx, bin, gateway, "sandbox", "get", name)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("openshell sandbox get %s: %w", name, ctx.Err())
		}
		msg := res.message()
		if strings.Contains(msg, "NotFound") || strings.Contains(strings.ToLower(msg), "not found") {
			return &SandboxMissingError{Name: name, Detail: msg}
		}
		if msg == "" {
			msg = err.Error()
		}
		return &UnreachableError{Host: name, Op: "openshell sandbox get", Err: errors.New(msg)}
	}
	if m := phaseLine.FindSubmatch(res.stdout); m != nil {
		if phase := string(m[1]); !strings.EqualFold(phase, "Ready") && !strings.EqualFold(phase, "Running") {
			return &UnreachableError{Host: name, Op: "inspect", Err: fmt.Errorf("OpenShell reports the sandbox phase as %s, not Ready", phase)}
		}
	}
	return nil
}

var phaseLine = regexp.MustCompile(`(?m)^\s*Phase:\s*(\S+)`)

// dialOpenShellSSH writes OpenShell's ssh-config to a private temporary
// file (it can carry a token in the ProxyCommand), dials its first Host,
// and removes the file: everything needed is read at dial time.
func dialOpenShellSSH(ctx context.Context, name string, config []byte, getenv func(string) string) (Transport, error) {
	alias, err := FirstHostAlias(bytes.NewReader(config))
	if err != nil {
		return nil, &UnreachableError{Host: name, Op: "read openshell sandbox ssh-config of", Err: err}
	}
	dir, err := os.MkdirTemp("", "nemoclaw-openshell-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(path, config, 0o600); err != nil {
		return nil, err
	}
	tr, err := DialSSH(ctx, SSHTarget{ConfigFile: path, Host: alias}, SSHOptions{Getenv: getenv, Name: name})
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			// The file is OpenShell's output, not the operator's: say so.
			return nil, &UnreachableError{Host: name, Op: "use openshell sandbox ssh-config of", Err: ce.Err}
		}
		return nil, err
	}
	return tr, nil
}

type callResult struct {
	stdout, stderr []byte
}

// message is what OpenShell said, for errors: stderr, else stdout.
func (r callResult) message() string {
	if s := strings.TrimSpace(string(r.stderr)); s != "" {
		return s
	}
	return strings.TrimSpace(string(r.stdout))
}

// openShellCall runs one openshell command line (with the gateway flag
// when gateway is set) and collects its output.
func openShellCall(ctx context.Context, bin, gateway string, args ...string) (callResult, error) {
	ctx, cancel := context.WithTimeout(ctx, openShellCallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, openShellArgv(gateway, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	return callResult{stdout.Bytes(), stderr.Bytes()}, err
}

// OpenShellExecTransport runs commands with `openshell sandbox exec`. It is
// the fallback when OpenShell gives no ssh-config: commands only, no Dial,
// and one openshell process per command.
//
// The script travels base64-encoded in argv, because OpenShell does not
// reliably pass stdin through: callers that push a payload should put it in
// Command.Script rather than Stdin when the transport is this type. Stdin is
// still handed to openshell, for what it passes.
type OpenShellExecTransport struct {
	bin, gateway, name string
}

var _ Transport = (*OpenShellExecTransport)(nil)

// envName is what a shell accepts as a variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// execWrapper is the `sh -c` program: print a start marker on each stream
// (whatever OpenShell printed before it is its own preamble), then decode
// and evaluate the script; `eval` keeps the script's `exit N`. The stderr
// marker differs and comes first, so a CLI that merges stderr into stdout
// shows it before the stdout marker, where it is dropped as preamble.
const execWrapper = `printf '%s\n' "$1-stderr" >&2; printf '%s\n' "$1"; eval "$(printf '%s' "$2" | base64 -d)"`

// Run executes cmd through `openshell [-g <gateway>] sandbox exec --name
// <name> -- sh -c <wrapper> <marker> <base64 script>`. Env becomes quoted `export` lines
// ahead of the script (names that are not shell names are dropped).
//
// Outcome: the marker seen and openshell exited N → Exited N (OpenShell
// reports a remote signal death as a status; it cannot be told apart).
// No marker on stdout → the command never started: an *UnreachableError
// carrying what openshell printed.
func (t *OpenShellExecTransport) Run(ctx context.Context, c Command) (Outcome, error) {
	marker, err := startMarker()
	if err != nil {
		return Outcome{Kind: Indeterminate}, err
	}
	encoded := base64.StdEncoding.EncodeToString([]byte(execScript(c.Script, c.Env)))

	stdout := newMarkerWriter(marker, c.Stdout)
	stderr := newMarkerWriter(marker+"-stderr", c.Stderr)
	cmd := exec.Command(t.bin, openShellArgv(t.gateway, "sandbox", "exec", "--name", t.name, "--", "sh", "-c", execWrapper, "sh", marker, encoded)...)
	cmd.Stdin = c.Stdin
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return Outcome{Kind: Indeterminate}, &UnreachableError{Host: t.name, Op: "run openshell sandbox exec on", Err: err}
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		// TERM to openshell (it forwards or tears the exec down), then
		// KILL if it lingers.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(2 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-waited
		}
		return Outcome{Kind: Indeterminate}, fmt.Errorf("run on %s: %w", t.name, ctx.Err())
	}
	if !stdout.started() {
		detail := strings.TrimSpace(stderr.preamble() + "\n" + stdout.preamble())
		if detail == "" && werr != nil {
			detail = werr.Error()
		}
		if detail == "" {
			detail = "openshell exited without running the command"
		}
		return Outcome{Kind: Indeterminate}, &UnreachableError{Host: t.name, Op: "run openshell sandbox exec on", Err: errors.New(detail)}
	}
	var ee *exec.ExitError
	switch {
	case werr == nil:
		return Outcome{Kind: Exited}, nil
	case errors.As(werr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// openshell itself was killed: the command's fate is unknown.
			return Outcome{Kind: Indeterminate}, nil
		}
		return Outcome{Kind: Exited, Code: ee.ExitCode()}, nil
	default:
		return Outcome{Kind: Exited}, fmt.Errorf("copy command output: %w", werr)
	}
}

// Dial is not possible through `openshell sandbox exec`.
func (t *OpenShellExecTransport) Dial(_ context.Context, _, addr string) (net.Conn, error) {
	return nil, fmt.Errorf("dial %s inside %s: not supported by the openshell exec fallback (it needs `openshell sandbox ssh-config` to work)", addr, t.name)
}

// Close has nothing to release: each Run is its own process.
func (t *OpenShellExecTransport) Close() error { return nil }

// execScript is what the wrapper evaluates: one quoted export per usable
// env entry (sorted, so the script is reproducible), then the script.
func execScript(script string, env map[string]string) string {
	var b strings.Builder
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if envName.MatchString(k) && !strings.ContainsRune(env[k], 0) {
			fmt.Fprintf(&b, "export %s=%s\n", k, shellquote.Quote(env[k]))
		}
	}
	b.WriteString(script)
	return b.String()
}

func startMarker() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "@nemoclaw-exec-start-" + hex.EncodeToString(b), nil
}

// markerWriter drops everything up to and including the first line equal
// to marker, then passes bytes through. What it dropped (the last 4 KiB) is
// kept for error messages.
type markerWriter struct {
	mu     sync.Mutex
	marker []byte
	dst    io.Writer
	found  bool
	buf    []byte // before the marker
}

const preambleKeep = 4096

func newMarkerWriter(marker string, dst io.Writer) *markerWriter {
	if dst == nil {
		dst = io.Discard
	}
	return &markerWriter{marker: []byte(marker + "\n"), dst: dst}
}

func (w *markerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.found {
		return w.dst.Write(p)
	}
	w.buf = append(w.buf, p...)
	i := indexLine(w.buf, w.marker)
	if i < 0 {
		// Keep enough to find a marker split across writes, and the
		// preamble's tail.
		if over := len(w.buf) - (preambleKeep + len(w.marker)); over > 0 {
			w.buf = append(w.buf[:0], w.buf[over:]...)
		}
		return len(p), nil
	}
	w.found = true
	rest := w.buf[i+len(w.marker):]
	w.buf = w.buf[:i]
	if len(rest) > 0 {
		if _, err := w.dst.Write(rest); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// indexLine finds marker (which ends in \n) at the start of a line.
func indexLine(b, marker []byte) int {
	off := 0
	for {
		i := bytes.Index(b[off:], marker)
		if i < 0 {
			return -1
		}
		at := off + i
		if at == 0 || b[at-1] == '\n' {
			return at
		}
		off = at + 1
	}
}

func (w *markerWriter) started() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.found
}

func (w *markerWriter) preamble() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
