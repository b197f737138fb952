package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/sandboxspec"
	"github.com/nemoclaw/nemoclaw-go/internal/statefs"
)

// launchers maps the PID of each unshare this process started to a channel
// closed when it has been reaped. Reaping needs the *exec.Cmd of the process
// that started it, so this is process-wide by nature.
var launchers sync.Map // int → chan struct{}

// Up creates, starts and registers a sandbox, and returns once its sshd
// answers and (unless the entrypoint is expected to fail, as with
// LegacyProxyEnv) its gateway is healthy. On any failure everything made so
// far is removed again.
func Up(ctx context.Context, o Options) (sb *Sandbox, err error) {
	o, err = o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkHost(); err != nil {
		return nil, err
	}
	var gw *openClawGateway
	if o.Gateway == GatewayOpenClaw {
		if gw, err = findOpenClawGateway(o.CacheDir); err != nil {
			return nil, err
		}
	}
	if o.LabBinary, err = resolveLabBinary(o); err != nil {
		return nil, err
	}
	if err := statefs.EnsurePrivateDir(o.LabDir); err != nil {
		return nil, err
	}
	s := newSandbox(o)
	if err := checkRegistryFree(s); err != nil {
		return nil, err
	}
	// Mkdir (not MkdirAll) is the duplicate check: it fails when the
	// sandbox exists, also against a concurrent Up of the same name.
	if err := os.Mkdir(s.Dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("sandbox %s already exists in %s: run `nemoclaw-lab down %s` first, or pick another name", o.Name, o.LabDir, o.Name)
		}
		return nil, fmt.Errorf("creating %s: %w", s.Dir, err)
	}
	defer func() {
		if err != nil {
			if derr := s.Down(); derr != nil {
				err = fmt.Errorf("%w (and cleaning up: %v)", err, derr)
			}
		}
	}()
	if err := os.MkdirAll(s.path("log"), 0o700); err != nil {
		return nil, err
	}
	if err := s.writeAccounts(); err != nil {
		return nil, fmt.Errorf("writing account files: %w", err)
	}
	if err := s.writeSSHFiles(o.LabBinary); err != nil {
		return nil, err
	}
	if err := s.writeTLS(); err != nil {
		return nil, fmt.Errorf("writing the inference.local certificate: %w", err)
	}
	var agentBinary []byte
	if gw != nil {
		if agentBinary, err = gw.prepare(s); err != nil {
			return nil, err
		}
	}
	if err := s.writeImage(agentBinary); err != nil {
		return nil, fmt.Errorf("writing the sandbox image files: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	// The real OpenClaw gives up by itself when its 5 s start-up lease
	// times out on an overloaded machine; a fresh start usually succeeds.
	attempts := 1
	if gw != nil {
		attempts = 3
	}
	for i := 1; ; i++ {
		err = s.start(ctx)
		var exited *gatewayExitedError
		if err == nil || !errors.As(err, &exited) || i == attempts {
			break
		}
		if serr := s.stop(); serr != nil {
			return nil, serr
		}
		_ = os.Remove(s.path("entrypoint.status"))
	}
	if err != nil {
		return nil, err
	}
	if err := s.register(); err != nil {
		return nil, err
	}
	return s, nil
}

// start launches PID 1 with the entrypoint and waits until it is ready.
func (s *Sandbox) start(ctx context.Context) error {
	if err := s.launch("start"); err != nil {
		return err
	}
	if err := s.waitEntrypoint(ctx); err != nil {
		return err
	}
	return s.waitReady(ctx, !s.Options.LegacyProxyEnv)
}

// checkHost reports what the host lacks to run a sandbox, with what to run.
func checkHost() error {
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root (Linux namespaces, mounts, sshd): run nemoclaw-lab as root (sudo)")
	}
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		return errors.New("OpenSSH server not found at /usr/sbin/sshd: run `make deps` (it installs openssh-server)")
	}
	for _, bin := range []string{"unshare", "nsenter", "setpriv", "ip", "bash", "node"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found on PATH: run `make deps`", bin)
		}
	}
	// The mount point for each sandbox's private /sandbox: made once, empty.
	if err := os.Mkdir("/sandbox", 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("creating the /sandbox mount point: %w", err)
	}
	return nil
}

// launch starts PID 1 (init.sh MODE) in new namespaces and records it.
func (s *Sandbox) launch(mode string) error {
	logf, err := os.OpenFile(s.path("log", "init.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- %s %s\n", time.Now().UTC().Format(time.RFC3339), mode)
	cmd := exec.Command("unshare", "--mount", "--pid", "--net", "--uts", "--ipc",
		"--fork", "--kill-child", "--propagation", "private", "--mount-proc",
		"/bin/bash", s.path("image", "init.sh"), s.Dir, mode)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The caller's environment must not leak into the sandbox's services
	// (LAB-NOTES §6).
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	cmd.Dir = "/"
	// Its own session: a terminal's ^C to the launcher must not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting unshare: %w", err)
	}
	done := make(chan struct{})
	launchers.Store(cmd.Process.Pid, done)
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.st.LauncherPID = cmd.Process.Pid

	// PID 1 is unshare's only child; /proc shows it a few ms after fork.
	children := fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(children)
		if f := strings.Fields(string(data)); len(f) > 0 {
			s.st.PID1, _ = strconv.Atoi(f[0])
			break
		}
		select {
		case <-done:
			return fmt.Errorf("sandbox %s did not start: %s", s.Name, s.logTail("init.log"))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sandbox %s: no PID 1 after 10 s: %s", s.Name, s.logTail("init.log"))
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.PID1 = s.st.PID1
	start, _, err := procStart(s.st.PID1)
	if err != nil {
		return fmt.Errorf("sandbox %s: PID 1 vanished: %s", s.Name, s.logTail("init.log"))
	}
	s.st.PID1Start = start
	if s.st.PIDNS, err = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", s.st.PID1)); err != nil {
		return fmt.Errorf("sandbox %s: PID 1 vanished: %s", s.Name, s.logTail("init.log"))
	}
	s.st.Options = s.Options
	s.st.Started = time.Now().UTC()
	s.st.Recreated = mode == "recreate"
	return s.saveState()
}

// waitEntrypoint waits until init.sh has run the entrypoint (the guard
// chain is in /tmp and the gateway was started) and checks its status.
func (s *Sandbox) waitEntrypoint(ctx context.Context) error {
	for delay := 5 * time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		data, err := os.ReadFile(s.path("entrypoint.status"))
		if err == nil && len(bytes.TrimSpace(data)) > 0 {
			if st := string(bytes.TrimSpace(data)); st != "0" {
				return fmt.Errorf("sandbox %s: the entrypoint failed with status %s: %s", s.Name, st, s.logTail("entrypoint.log"))
			}
			return nil
		}
		if !s.running() {
			return fmt.Errorf("sandbox %s stopped while running its entrypoint: %s", s.Name, s.logTail("init.log"))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox %s: entrypoint not done: %w: %s", s.Name, ctx.Err(), s.logTail("entrypoint.log"))
		case <-time.After(delay):
		}
	}
}

// waitReady polls until sshd answers with an SSH banner and, when
// wantGateway, the gateway's health endpoint (and, for Hermes, its
// dashboard) answers 200 or 401. PID 1 dying ends the wait with its log, and
// so does the gateway dying (the real OpenClaw gives up by itself when its
// start-up lease times out on a busy machine): it would never answer.
func (s *Sandbox) waitReady(ctx context.Context, wantGateway bool) error {
	poll := func(what string, gateway bool, ok func() bool) error {
		var missingSince time.Time
		for delay := 5 * time.Millisecond; ; delay = min(delay*2, 200*time.Millisecond) {
			if ok() {
				return nil
			}
			if !s.running() {
				return fmt.Errorf("sandbox %s stopped while waiting for %s: %s", s.Name, what, s.logTail("init.log"))
			}
			// /proc shows a process mid-exec with an empty command line:
			// only a gateway missing for a whole second has exited.
			if gateway && !s.gatewayAlive() {
				if missingSince.IsZero() {
					missingSince = time.Now()
				} else if time.Since(missingSince) > time.Second {
					return &gatewayExitedError{fmt.Sprintf("sandbox %s: the gateway exited before %s answered%s; processes: %s", s.Name, what, s.readinessHint(what), s.processSummary())}
				}
			} else {
				missingSince = time.Time{}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("sandbox %s: %s not ready: %w%s", s.Name, what, ctx.Err(), s.readinessHint(what))
			case <-time.After(delay):
			}
		}
	}
	if err := poll("sshd on 127.0.0.1:22", false, func() bool {
		c, err := s.Dial(ctx, "127.0.0.1:22")
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 8)
		n, _ := io.ReadFull(c, buf)
		return bytes.HasPrefix(buf[:n], []byte("SSH-2.0-"))
	}); err != nil {
		return err
	}
	if !wantGateway {
		return nil
	}
	healthy := func(addr, path string) func() bool {
		return func() bool {
			code, _, err := s.HTTPGet(ctx, addr, path)
			return err == nil && (code == 200 || code == 401)
		}
	}
	port := strconv.Itoa(s.Options.Port)
	if s.Options.Agent == AgentHermes {
		if err := poll("the Hermes gateway on 127.0.0.1:8642", true, healthy("127.0.0.1:"+strconv.Itoa(sandboxspec.HermesAPIPort), "/health")); err != nil {
			return err
		}
		return poll("the Hermes dashboard on 127.0.0.1:"+port, true, healthy("127.0.0.1:"+port, "/"))
	}
	return poll("the gateway on 127.0.0.1:"+port, true, healthy("127.0.0.1:"+port, "/health"))
}

// processSummary lists the sandbox's processes for an error message.
func (s *Sandbox) processSummary() string {
	procs, err := s.Processes()
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, p := range procs {
		out = append(out, fmt.Sprintf("%d(%s):%.80s", p.NSPID, p.State, strings.Join(p.Args, " ")))
	}
	return strings.Join(out, ", ")
}

// gatewayExitedError says the gateway died during bring-up.
type gatewayExitedError struct{ msg string }

func (e *gatewayExitedError) Error() string { return e.msg }

// gatewayAlive reports whether a gateway process, or the entrypoint's shell
// about to exec one (`sh -c '. env && exec openclaw gateway run ...'`), runs.
func (s *Sandbox) gatewayAlive() bool {
	procs, err := s.Processes()
	if err != nil {
		return false
	}
	for _, p := range procs {
		if p.IsGateway() || (p.State != "Z" && strings.Contains(strings.Join(p.Args, " "), "exec "+s.Options.Agent+" gateway run")) {
			return true
		}
	}
	return false
}

func (s *Sandbox) readinessHint(what string) string {
	if strings.HasPrefix(what, "sshd") {
		return ": " + s.logTail("sshd.log")
	}
	if data, err := os.ReadFile(s.HostPath("/tmp/gateway.log")); err == nil {
		return ": /tmp/gateway.log ends: " + tail(string(data), 8)
	}
	return ": " + s.logTail("entrypoint.log")
}

// logTail returns the last lines of one of the sandbox's logs on the host.
func (s *Sandbox) logTail(name string) string {
	data, err := os.ReadFile(s.path("log", name))
	if err != nil {
		return "(no " + name + ")"
	}
	return name + " ends: " + tail(string(data), 8)
}

func tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(text, "\r", ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

var buildOnce sync.Map // output path → *sync.Once-guarded result

type buildResult struct {
	once sync.Once
	err  error
}

// resolveLabBinary finds the nemoclaw-lab executable for the ProxyCommand
// (see Options.LabBinary).
func resolveLabBinary(o Options) (string, error) {
	if o.LabBinary == "" {
		o.LabBinary = os.Getenv("NEMOCLAW_LAB_BIN")
	}
	if o.LabBinary != "" {
		p, err := filepath.Abs(o.LabBinary)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("nemoclaw-lab binary: %w", err)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "nemoclaw-lab" {
		return exe, nil
	}
	// A test binary of some package: build the command once per process.
	out := filepath.Join(o.LabDir, ".bin", "nemoclaw-lab")
	v, _ := buildOnce.LoadOrStore(out, &buildResult{})
	br := v.(*buildResult)
	br.once.Do(func() { br.err = buildLabBinary(out) })
	return out, br.err
}

func buildLabBinary(out string) error {
	if err := statefs.EnsurePrivateDir(filepath.Dir(out)); err != nil {
		return err
	}
	_, self, _, _ := runtime.Caller(0)
	moduleRoot := filepath.Join(filepath.Dir(self), "..", "..")
	goBin := "go"
	if _, err := exec.LookPath(goBin); err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	tmp := fmt.Sprintf("%s.tmp-%d", out, os.Getpid())
	cmd := exec.Command(goBin, "build", "-o", tmp, "./cmd/nemoclaw-lab")
	cmd.Dir = moduleRoot
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building nemoclaw-lab for the ssh-config ProxyCommand (set NEMOCLAW_LAB_BIN to skip): %v: %s", err, msg)
	}
	return os.Rename(tmp, out)
}
