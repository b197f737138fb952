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

// startsByRole groups the payload-launched starts.
func startsByRole(r *nsResult) map[string][]nsStart {
	m := map[string][]nsStart{}
	for _, s := range r.starts {
		m[s.Role] = append(m[s.Role], s)
	}
	return m
}

// wantDashboardStart checks the one dashboard the payload launched: the
// exact command of SPEC §5.2, guarded like the gateway, output in the log.
func wantDashboardStart(t *testing.T, c nsCtx, r *nsResult) {
	t.Helper()
	d := startsByRole(r)["hermes-dashboard"]
	if len(d) != 1 {
		t.Errorf("dashboard starts = %d, want 1", len(d))
		return
	}
	if got := strings.Join(d[0].Args, " "); got != "dashboard --host 127.0.0.1 --port 9119 --skip-build --no-open" {
		t.Errorf("dashboard argv = %q", got)
	}
	req := nsRequireTokens(d[0].Env["NODE_OPTIONS"])
	if req[nsSafetyNetTmp] != 1 || req[nsCiaoTmp] != 1 {
		t.Errorf("dashboard NODE_OPTIONS %q lacks a guard or repeats one", d[0].Env["NODE_OPTIONS"])
	}
	if d[0].UID != c.uid || d[0].Env["HERMES_HOME"] != "/sandbox/.hermes" {
		t.Errorf("dashboard uid %d HERMES_HOME %q", d[0].UID, d[0].Env["HERMES_HOME"])
	}
	if len(d[0].Fds) == 3 && d[0].Fds[1] != nsGatewayLog {
		t.Errorf("dashboard stdout %q, want %s", d[0].Fds[1], nsGatewayLog)
	}
}

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
			wantDashboardStart(t, c, r)
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
			wantDashboardStart(t, c, r)
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
