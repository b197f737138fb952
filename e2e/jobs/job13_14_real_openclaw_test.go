package jobs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// Jobs 13 and 14 share one sandbox running the real OpenClaw gateway
// (openclaw@2026.9.6 on Node 24, `make lab-deps`), since job 14 opens what
// job 13 recovered:
//
//   - job 13: the CI wipe of /tmp with the gateway's process tree killed;
//     `nemoclaw <name> recover` relaunches the real gateway guarded, and
//     from the host `curl http://127.0.0.1:<port>/` gets the Control UI
//     (<title>OpenClaw Control</title>) through our forward.
//   - job 14: headless Chromium opens the login link `nemoclaw <name>
//     dashboard` prints (#bootstrapToken=...), through the forward, and the
//     Control UI reaches its connected view and stays there: the DevTools
//     protocol shows the page's WebSocket to the gateway upgraded, answered
//     with hello-ok and never closed over a hold window, and the DOM shows
//     the app shell with the gateway connected, not the login gate. As a
//     control, the plain URL (no token) must show the login gate's "This
//     Gateway expects its token": the same detector, told apart.
//
// Not parallel: it runs before this package's parallel jobs and holds the
// machine-wide real-OpenClaw lock, because the gateway gives up by itself
// when starved of CPU at start-up (OpenClaw's 5 s state-lease limit; see
// e2e/lab/openclaw.go). For the same reason the sandbox's sshd, and so the
// payload and the gateway it launches, run at nice -10, as the lab runs
// the real gateway in its own test. Neither is retried.
func TestJob13And14RealOpenClaw(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real OpenClaw gateway (about 1 GB, tens of seconds) and Chromium; skipped in -short")
	}
	harness.RequireRealOpenClaw(t)
	chromium := testenv.RequireBinary(t, "chromium")
	testenv.RequireBinary(t, "curl")
	op := harness.NewOperator(t)
	s := op.Up(t, "job13", lab.Options{Gateway: lab.GatewayOpenClaw})
	env := op.Env()
	ctx := hangProtection(t, 20*time.Minute)
	port := s.Options.Port
	dashboard := fmt.Sprintf("http://127.0.0.1:%d/", port)

	job13 := t.Run("job13 wipe and kill, recover, the Control UI from the host", func(t *testing.T) {
		raisePriority(t, s)
		killGatewayTree(t, ctx, s)
		if err := s.WipeTmp(ctx, false); err != nil {
			t.Fatal(err)
		}
		noGateway(t, s)
		start := time.Now()
		r, doc := cli(t, ctx, env, "nemoclaw", s.Name, "recover", "--json")
		t.Logf("recover of the real gateway: %.1f s (information, not a target)", time.Since(start).Seconds())
		if r.Code != 0 {
			t.Fatalf("recover after wipe + kill: exit %d, want 0\n%s", r.Code, r)
		}
		wantFields(t, r, doc, "outcome=recovered", "steps.guard_chain.status=changed", "steps.dashboard.status=ok")
		pid, nspid := mustGateway(t, s)
		if got := harness.Field(doc, "gateway.pid"); got != itoa(nspid) {
			t.Fatalf("the report names pid %s, the sandbox runs %d", got, nspid)
		}
		if err := harness.CheckGuardsInEnviron(pid); err != nil {
			t.Fatal(err)
		}
		if log := gatewayLog(t, s, doc); !strings.Contains(log, "restoring library guards from packaged preloads") || strings.Contains(log, "launching without") {
			t.Fatalf("the log does not show a guarded restore:\n%s", log)
		}
		out, err := exec.CommandContext(ctx, "curl", "-sS", "--max-time", "60", dashboard).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "<title>OpenClaw Control</title>") {
			t.Fatalf("curl %s: %v\n%.400s", dashboard, err, out)
		}
	})

	t.Run("job14 Chromium reaches the Control UI's connected view", func(t *testing.T) {
		if !job13 {
			t.Fatal("job 13 failed: there is no recovered dashboard to open")
		}
		t.Logf("browser: %s", chromiumVersion(ctx, chromium))
		r, _ := cli(t, ctx, env, "nemoclaw", s.Name, "dashboard")
		if r.Code != 0 {
			t.Fatalf("dashboard: exit %d\n%s", r.Code, r)
		}
		link := regexp.MustCompile(regexp.QuoteMeta(dashboard) + `#bootstrapToken=\S+`).FindString(r.Stdout)
		if link == "" {
			t.Fatalf("dashboard printed no %s#bootstrapToken= link\n%s", dashboard, r)
		}
		noSharedToken(t, s, op.Home, r.Stdout+r.Stderr, link)
		wsPrefix := fmt.Sprintf("ws://127.0.0.1:%d", port)
		artifacts := t.ArtifactDir()

		// The control: without the token the same page shows the login
		// gate, and no socket gets a hello.
		plain := startBrowser(t, ctx)
		keepScreenshotOnFailure(t, ctx, plain, artifacts, "plain-url.png")
		if err := plain.navigate(ctx, dashboard); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		st, err := waitUI(wctx, plain, wsPrefix, func(s uiState) bool { return s.View.LoginGate && s.View.AuthRequired })
		cancel()
		if err != nil || st.connected() || st.liveSocket() {
			t.Fatalf("the plain URL, without a token: %v\n%s", err, st)
		}
		plain.stop()

		b := startBrowser(t, ctx)
		keepScreenshotOnFailure(t, ctx, b, artifacts, "dashboard-link.png")
		if err := b.navigate(ctx, link); err != nil {
			t.Fatal(err)
		}
		wctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
		st, err = waitUI(wctx, b, wsPrefix, uiState.connected)
		cancel()
		if err != nil {
			t.Fatalf("after opening the login link: %v\n%s", err, st)
		}
		// Stays connected: the same view, and the socket never closes.
		for deadline := time.Now().Add(holdConnected); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			if st, err = readUI(ctx, b, wsPrefix); err != nil || !st.connected() {
				t.Fatalf("the Control UI left its connected view: %v\n%s", err, st)
			}
			for _, ws := range st.Sockets {
				if ws.Closed {
					t.Fatalf("a WebSocket to the gateway closed while connected:\n%s", st)
				}
			}
		}
		t.Logf("connected: %s", st)

		// The JSON form: one schema-valid report carrying a link of the
		// same kind, never the shared token.
		rj, doc := cli(t, ctx, env, "nemoclaw", s.Name, "dashboard", "--json")
		if rj.Code != 0 || !strings.Contains(harness.Field(doc, "dashboardUrl"), "#bootstrapToken=") {
			t.Fatalf("dashboard --json: exit %d\n%s", rj.Code, rj)
		}
		noSharedToken(t, s, op.Home, rj.Stdout+rj.Stderr, "")
	})
}

// holdConnected is how long the connected view and its WebSocket must
// last after they first appear (the gateway ticks every few seconds; a
// page that reconnects or falls back to the login gate shows it here).
const holdConnected = 10 * time.Second

// raisePriority renices the sandbox's sshd listener to -10: the sessions
// it forks, the payload in them and the gateway the payload launches
// inherit it.
func raisePriority(t *testing.T, s *lab.Sandbox) {
	t.Helper()
	procs, err := s.Processes()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.Comm == "sshd" && p.PPID == s.PID1 {
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, p.PID, -10); err != nil {
				t.Fatalf("renicing sshd (pid %d): %v", p.PID, err)
			}
			return
		}
	}
	t.Fatalf("no sshd listener in %s", s.Name)
}

// keepScreenshotOnFailure saves a PNG of the page, and what the test
// read from it, into dir when the test fails, and logs where.
func keepScreenshotOnFailure(t *testing.T, ctx context.Context, b *browser, dir, name string) {
	t.Cleanup(func() {
		if !t.Failed() || b.isStopped() {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		path, err := b.screenshot(sctx, dir, name)
		if err != nil {
			t.Logf("screenshot %s: %v", name, err)
			return
		}
		t.Logf("screenshot of the page: %s", path)
		if st, err := readUI(sctx, b, ""); err == nil {
			_ = os.WriteFile(filepath.Join(dir, strings.TrimSuffix(name, ".png")+".txt"), []byte(st.String()), 0o644)
		}
	})
}

func chromiumVersion(ctx context.Context, bin string) string {
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(out))
}

// noSharedToken: the dashboard's output never carries the gateway's shared
// token (as a #token= URL or at all), and neither the token nor the login
// link's single-use bootstrap lands in any file under ~/.nemoclaw (forward
// logs and state included).
func noSharedToken(t *testing.T, s *lab.Sandbox, home, out, link string) {
	t.Helper()
	if strings.Contains(out, "#token=") || strings.Contains(out, "&token=") {
		t.Fatalf("the shared-token URL was printed:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, "openclaw-token"))
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(b))
	if strings.Contains(out, secret) {
		t.Fatalf("the shared gateway token was printed:\n%s", out)
	}
	bootstrap := ""
	if _, frag, ok := strings.Cut(link, "#bootstrapToken="); ok {
		bootstrap, _, _ = strings.Cut(frag, "&")
	}
	filepath.Walk(filepath.Join(home, ".nemoclaw"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		data, _ := os.ReadFile(p)
		if strings.Contains(string(data), secret) || bootstrap != "" && strings.Contains(string(data), bootstrap) {
			t.Errorf("%s holds the shared token or the login link's bootstrap", p)
		}
		return nil
	})
}
