package templates_test

// Whole-script runs of the variants the issue-2 table does not cover: the
// Hermes dashboard after the gateway, the dashboard-only variant, and a
// custom agent. They reuse the namespace harness of nstest_harness_test.go
// (same real paths, same test gateway, which also plays `hermes dashboard`
// on its --port and any custom program).

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
	"github.com/nemoclaw/nemoclaw-go/templates"
)

func dashParams(mode templates.Mode, check bool) templates.Params {
	p := nsHermes()
	p.Mode, p.Check = mode, check
	p.HermesDashboard = templates.HermesDashboard{Enabled: true, Port: 18789, InternalPort: 9119}
	return p
}

func dashTUIParams(mode templates.Mode) templates.Params {
	p := dashParams(mode, false)
	p.HermesDashboard.TUI = true
	return p
}

// startsByRole groups the payload-launched starts.
func startsByRole(r *nsResult) map[string][]nsStart {
	m := map[string][]nsStart{}
	for _, s := range r.starts {
		m[s.Role] = append(m[s.Role], s)
	}
	return m
}

// wantDashboardStart checks the one dashboard the payload launched: the
// exact command of SPEC §5.2 (with --tui when asked), guarded like the
// gateway, with Hermes' umask, output appended to /tmp/hermes-dashboard.log.
func wantDashboardStart(t *testing.T, c nsCtx, r *nsResult, tui bool) {
	t.Helper()
	d := startsByRole(r)["hermes-dashboard"]
	if len(d) != 1 {
		t.Errorf("dashboard starts = %d, want 1", len(d))
		return
	}
	want := "dashboard --host 127.0.0.1 --port 9119 --skip-build --no-open"
	if tui {
		want += " --tui"
	}
	if got := strings.Join(d[0].Args, " "); got != want {
		t.Errorf("dashboard argv = %q, want %q", got, want)
	}
	if d[0].Umask != "0007" {
		t.Errorf("dashboard umask %q, want Hermes' 0007", d[0].Umask)
	}
	req := nsRequireTokens(d[0].Env["NODE_OPTIONS"])
	if req[nsSafetyNetTmp] != 1 || req[nsCiaoTmp] != 1 {
		t.Errorf("dashboard NODE_OPTIONS %q lacks a guard or repeats one", d[0].Env["NODE_OPTIONS"])
	}
	if d[0].UID != c.uid || d[0].Env["HERMES_HOME"] != "/sandbox/.hermes" {
		t.Errorf("dashboard uid %d HERMES_HOME %q", d[0].UID, d[0].Env["HERMES_HOME"])
	}
	if len(d[0].Fds) == 3 && (d[0].Fds[1] != nsDashboardLog || d[0].Fds[2] != nsDashboardLog) {
		t.Errorf("dashboard stdout/stderr %q/%q, want %s", d[0].Fds[1], d[0].Fds[2], nsDashboardLog)
	}
	if f := r.file(nsDashboardLog); f.kind != "file" || !strings.Contains(string(f.data), "hermes-dashboard pid") {
		t.Errorf("%s is %s, want the dashboard's output", nsDashboardLog, f)
	}
}

const nsDashboardLog = "/tmp/hermes-dashboard.log"

func TestNamespaceDashboardAndCustomAgent(t *testing.T) {
	testenv.RequireRoot(t)
	for _, b := range []string{"unshare", "setpriv", "node", "dash", "bash", "curl", "timeout", "ip", "ps", "find"} {
		testenv.RequireBinary(t, b)
	}
	if err := nsEnsureSandboxDir(); err != nil {
		t.Fatalf("preparing the /sandbox mount point: %v", err)
	}
	healthyHermes := func(c nsCtx) string {
		return fmt.Sprintf(`stage_trusted
install -m 0644 -o %[1]d -g %[1]d /dev/null "$GLOG"
start_gateway %[1]d hermes gateway run
wait_http http://127.0.0.1:8642/health`, c.uid)
	}
	// dashboardFixture starts the entrypoint's dashboard and waits until
	// it answers (any status).
	dashboardFixture := func(c nsCtx) string {
		return fmt.Sprintf(`start_gateway %[1]d env HERMES_HOME=/sandbox/.hermes hermes dashboard --host 127.0.0.1 --port 9119 --skip-build --no-open
for _ in $(seq 1 500); do [ "$(curl -s -o /dev/null -w '%%{http_code}' --max-time 1 http://127.0.0.1:9119/)" != 000 ] && break; sleep 0.02; done`, c.uid)
	}
	cases := []struct {
		name  string
		build func(c nsCtx) (nsSpec, []templates.Params)
		check func(t *testing.T, c nsCtx, r *nsResult)
	}{
		// hermesDashboardEnabled on a wiped sandbox: the gateway first, then
		// the dashboard, both guarded.
		{"dashboard-after-gateway", func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{}, []templates.Params{dashParams(templates.ModeGateway, false)}
		}, func(t *testing.T, c nsCtx, r *nsResult) {
			nsWantOutcome(t, r, 0, templates.OutcomeRecovered)
			if g := startsByRole(r)["hermes-gateway"]; len(g) != 1 {
				t.Errorf("gateway starts = %d, want 1", len(g))
			}
			wantDashboardStart(t, c, r, false)
			if !nsHasStepStatus(r, 0, "changed") {
				t.Error("no changed step reported")
			}
		}},
		// The dashboard-only variant when the gateway is healthy and the
		// dashboard is not: only the dashboard is launched.
		{"dashboard-only-relaunches-dashboard", func(c nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{fixture: healthyHermes(c)}, []templates.Params{dashParams(templates.ModeHermesDashboard, false)}
		}, func(t *testing.T, c nsCtx, r *nsResult) {
			nsWantOutcome(t, r, 0, templates.OutcomeRecovered)
			if g := startsByRole(r)["hermes-gateway"]; len(g) != 0 {
				t.Errorf("the dashboard-only variant launched a gateway")
			}
			wantDashboardStart(t, c, r, false)
		}},
		// hermesDashboardTui: the same, with --tui (issue 9 item 5).
		{"dashboard-only-tui", func(c nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{fixture: healthyHermes(c)}, []templates.Params{dashTUIParams(templates.ModeHermesDashboard)}
		}, func(t *testing.T, c nsCtx, r *nsResult) {
			nsWantOutcome(t, r, 0, templates.OutcomeRecovered)
			wantDashboardStart(t, c, r, true)
		}},
		// A dashboard that answers a redirect the spec lists (308) is
		// serving: left alone.
		{"dashboard-answering-308-is-serving", func(c nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{gw: map[string]any{"fixtureRootStatus": 308}, fixture: healthyHermes(c) + "\n" + dashboardFixture(c)},
				[]templates.Params{dashParams(templates.ModeHermesDashboard, false)}
		}, func(t *testing.T, c nsCtx, r *nsResult) {
			nsWantOutcome(t, r, 0, templates.OutcomeAlreadyRunning)
			nsWantNoLaunch(t, r)
		}},
		// One that answers any other status (303, not in the list) is not:
		// stopped and relaunched.
		{"dashboard-answering-303-is-not", func(c nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{gw: map[string]any{"fixtureRootStatus": 303}, fixture: healthyHermes(c) + "\n" + dashboardFixture(c)},
				[]templates.Params{dashParams(templates.ModeHermesDashboard, false)}
		}, func(t *testing.T, c nsCtx, r *nsResult) {
			nsWantOutcome(t, r, 0, templates.OutcomeRecovered)
			wantDashboardStart(t, c, r, false)
			for _, s := range r.fixtureStarts {
				if s.Role == "hermes-dashboard" && nsProcAlive(r, s.Pid) {
					t.Errorf("the dashboard answering 303 (pid %d) was left running", s.Pid)
				}
			}
		}},
		// The dashboard-only variant refuses an unguarded dashboard in
		// NemoClaw's words for it.
		{"dashboard-only-refusal", func(c nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{fixture: healthyHermes(c) + "\nrm -f \"$PRE/ciao-network-guard.js\""},
				[]templates.Params{dashParams(templates.ModeHermesDashboard, false)}
		}, func(t *testing.T, c nsCtx, r *nsResult) {
			nsWantOutcome(t, r, 0, templates.OutcomeRefused)
			nsWantNoLaunch(t, r)
			nsLogHas(t, r, nsGatewayLog, "[gateway-recovery] ERROR: NODE_OPTIONS missing safety-net preload or ciao preload after trusted recovery - refusing unguarded dashboard relaunch (#2478/#2701)")
			nsLogLacks(t, r, nsGatewayLog, "refusing unguarded gateway relaunch")
		}},
		// Dashboard-only with no gateway: it must not launch anything; a
		// full recovery is the operator's next step.
		{"dashboard-only-without-gateway", func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{}, []templates.Params{dashParams(templates.ModeHermesDashboard, false)}
		}, func(t *testing.T, c nsCtx, r *nsResult) {
			nsWantOutcome(t, r, 0, templates.OutcomeFailed)
			nsWantNoLaunch(t, r)
		}},
		// Check mode of the dashboard-only variant: would-recover, nothing
		// launched or written.
		{"dashboard-only-check", func(c nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{fixture: healthyHermes(c)}, []templates.Params{dashParams(templates.ModeHermesDashboard, true)}
		}, func(t *testing.T, c nsCtx, r *nsResult) {
			nsWantOutcome(t, r, 0, templates.OutcomeWouldRecover)
			nsWantNoLaunch(t, r)
			nsCheckNothingChanged(t, r)
		}},
		// A custom agent (agents/<name>.json): its own command with --port,
		// its health URL, launched guarded as the runner (no gosu: that is
		// OpenClaw's).
		{"custom-agent", func(nsCtx) (nsSpec, []templates.Params) {
			p := nsOpenClaw(false)
			p.Agent = templates.Agent{Name: "my-agent", DisplayName: "My Agent",
				GatewayCommand: []string{"/usr/local/bin/openclaw", "gateway", "run", "--port", "18800"},
				HealthURL:      "http://127.0.0.1:18800/health", Binary: "/usr/local/bin/openclaw"}
			p.Port = 18800
			return nsSpec{}, []templates.Params{p}
		}, func(t *testing.T, c nsCtx, r *nsResult) {
			nsWantOutcome(t, r, 0, templates.OutcomeRecovered)
			s, ok := nsWantOneLaunch(t, r, "openclaw-gateway")
			if !ok {
				return
			}
			nsWantGuarded(t, r, s, c.uid, nsGatewayLog)
			if s.Port != 18800 {
				t.Errorf("custom gateway port %d, want 18800", s.Port)
			}
		}},
	}
	// Two runs per case: dash as root and bash as the sandbox user, so each
	// shell and each runner is covered without the full product (the
	// issue-2 table already runs everything four ways).
	runs := []struct{ shell, user string }{{"dash", "root"}, {"bash", "nonroot"}}
	for _, tc := range cases {
		for _, run := range runs {
			t.Run(tc.name+"/"+run.shell+"/"+run.user, func(t *testing.T) {
				t.Parallel()
				c := nsCtx{shell: "/bin/" + run.shell, asRoot: run.user == "root", uid: nsSandboxUID, gwUID: nsSandboxUID}
				if c.asRoot {
					c.uid, c.gwUID = 0, nsGatewayUID
				}
				sp, params := tc.build(c)
				r := nsRunCase(t, c, sp, params)
				tc.check(t, c, r)
				nsCheckEveryRun(t, r, params)
				if t.Failed() {
					t.Logf("case state:\n%s", r.describe())
				}
			})
		}
	}
}
