package host

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/internal/sandboxspec"
)

func runDebug(t *testing.T, home string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	inv := &Invocation{Brand: BrandFor("nemoclaw"), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "HOME" {
				return home
			}
			return env[k]
		}}
	code := inv.Run(context.Background(), append([]string{"nemoclaw"}, args...))
	return code, out.String(), errb.String()
}

func writeAgent(t *testing.T, home, name, body string) {
	t.Helper()
	dir := filepath.Join(home, ".nemoclaw", "agents")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Bad input is a usage error: exit 2, a message on stderr, nothing on stdout
// (a half-printed payload piped into sh would be worse than none).
func TestDebugPayloadRejectsBadInput(t *testing.T) {
	home := t.TempDir()
	writeAgent(t, home, "broken", `{"gatewayCommand": ["bad;cmd"]}`)
	writeAgent(t, home, "notjson", `{`)
	for _, tc := range []struct {
		why  string
		args []string
		msg  string
	}{
		{"port 0", []string{"debug", "payload", "--agent", "openclaw", "--port", "0"}, "invalid --port"},
		{"port too large", []string{"debug", "payload", "--agent", "openclaw", "--port", "65536"}, "invalid --port"},
		{"port not a number", []string{"debug", "payload", "--agent", "openclaw", "--port", "x"}, "port"},
		{"missing --agent", []string{"debug", "payload"}, "agent"},
		{"agent name with a path", []string{"debug", "payload", "--agent", "../x"}, "invalid agent name"},
		{"unknown custom agent", []string{"debug", "payload", "--agent", "nosuch"}, "unknown agent"},
		{"custom agent with shell text as its program", []string{"debug", "payload", "--agent", "broken"}, "invalid gateway command"},
		{"custom agent file that does not parse", []string{"debug", "payload", "--agent", "notjson"}, "notjson"},
		{"negative settle", []string{"debug", "payload", "--agent", "openclaw", "--settle", "-1s"}, "settle"},
		{"negative timeout", []string{"debug", "payload", "--agent", "openclaw", "--timeout", "-5s"}, "timeout"},
		{"dashboard-only for openclaw", []string{"debug", "payload", "--agent", "openclaw", "--dashboard-only"}, "hermes"},
		{"stray argument", []string{"debug", "payload", "--agent", "openclaw", "extra"}, "unexpected argument"},
	} {
		t.Run(tc.why, func(t *testing.T) {
			code, out, errs := runDebug(t, home, nil, tc.args...)
			if code != exitcode.Usage {
				t.Fatalf("exit %d, want 2; stderr %q", code, errs)
			}
			if out != "" {
				t.Fatalf("stdout not empty on bad input: %q", out[:min(len(out), 200)])
			}
			if !strings.Contains(errs, tc.msg) {
				t.Fatalf("stderr %q does not mention %q", errs, tc.msg)
			}
		})
	}
}

// The printed payload is the rendered script for the chosen agent, port and
// mode, and it parses.
func TestDebugPayloadPrintsTheScript(t *testing.T) {
	home := t.TempDir()
	writeAgent(t, home, "mygw", `{"displayName": "My GW", "gatewayCommand": ["mygw", "serve"], "forwardPorts": [18800]}`)
	for _, tc := range []struct {
		why   string
		env   map[string]string
		args  []string
		wants []string
	}{
		{"openclaw default port", nil, []string{"--agent", "openclaw"},
			[]string{"readonly NC_GATEWAY_ARGV=''\\''openclaw'\\'' '\\''gateway'\\'' '\\''run'\\'' '\\''--port'\\'' '\\''18789'\\'''", "readonly NC_CHECK='0'"}},
		{"port from the environment", map[string]string{"NEMOCLAW_DASHBOARD_PORT": "19001"}, []string{"--agent", "openclaw"},
			[]string{"readonly NC_HEALTH_URL='http://127.0.0.1:19001/health'"}},
		{"--port wins over the environment", map[string]string{"NEMOCLAW_DASHBOARD_PORT": "19001"}, []string{"--agent", "openclaw", "--port", "19002"},
			[]string{"readonly NC_PORT='19002'"}},
		{"check mode", nil, []string{"--agent", "openclaw", "--check"}, []string{"readonly NC_CHECK='1'"}},
		{"hermes", nil, []string{"--agent", "hermes"}, []string{"HERMES_HOME=/sandbox/.hermes", "readonly NC_HEALTH_URL='http://localhost:8642/health'"}},
		{"hermes dashboard-only", nil, []string{"--agent", "hermes", "--dashboard-only"}, []string{"readonly NC_MODE='hermes-dashboard'"}},
		{"settle and timeout", nil, []string{"--agent", "openclaw", "--settle", "0", "--timeout", "30s"},
			[]string{"readonly NC_SETTLE_MS='0'", "readonly NC_DEADLINE_MS='30000'", "readonly NC_READINESS_MS='30000'"}},
		{"custom agent gets --port", nil, []string{"--agent", "mygw", "--port", "18800"},
			[]string{"readonly NC_DISPLAY_NAME='My GW'", "'\\''mygw'\\'' '\\''serve'\\'' '\\''--port'\\'' '\\''18800'\\''", "readonly NC_HEALTH_URL='http://127.0.0.1:18800/health'"}},
	} {
		t.Run(tc.why, func(t *testing.T) {
			code, out, errs := runDebug(t, home, tc.env, append([]string{"debug", "payload"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			for _, w := range tc.wants {
				if !strings.Contains(out, w) {
					t.Errorf("payload lacks %q", w)
				}
			}
			if sh, err := exec.LookPath("dash"); err == nil {
				cmd := exec.Command(sh, "-n")
				cmd.Stdin = strings.NewReader(out)
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("dash -n: %v\n%s", err, b)
				}
			}
		})
	}
}

func TestDashboardPortSelection(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "NEMOCLAW_DASHBOARD_PORT" {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		why      string
		registry any
		env      string
		want     int
	}{
		{"registry number wins", float64(19000), "19001", 19000},
		{"registry numeric string (older writers)", "19002", "", 19002},
		{"invalid registry value falls back to the environment", float64(0), "19003", 19003},
		{"fractional registry value is not a port", 19000.5, "", sandboxspec.DefaultDashboardPort},
		{"out-of-range environment falls back to the default", nil, "70000", sandboxspec.DefaultDashboardPort},
		{"garbage environment", nil, "abc", sandboxspec.DefaultDashboardPort},
		{"nothing set", nil, "", sandboxspec.DefaultDashboardPort},
	} {
		if got, _ := dashboardPort(tc.registry, env(tc.env)); got != tc.want {
			t.Errorf("%s: dashboardPort = %d, want %d", tc.why, got, tc.want)
		}
	}
}

func TestResolveAgentProfiles(t *testing.T) {
	home := t.TempDir()
	writeAgent(t, home, "strcmd", `{"gatewayCommand": "/opt/x/bin/gw run", "healthUrl": "http://127.0.0.1:9000/ok", "dashboardMarker": "GW"}`)
	oc, err := resolveAgent(home, "openclaw", 18789)
	if err != nil || oc.DisplayName != "OpenClaw" || oc.DashboardMarker != "OpenClaw Control" || oc.ForwardPorts[0] != 18789 {
		t.Fatalf("openclaw: %+v, %v", oc, err)
	}
	h, err := resolveAgent(home, "hermes", 18789)
	if err != nil || h.DisplayName != "Hermes Agent" || len(h.ForwardPorts) != 2 || h.ForwardPorts[1] != 8642 {
		t.Fatalf("hermes: %+v, %v", h, err)
	}
	for _, w := range h.GatewayCommand {
		if w == "--port" {
			t.Fatal("the Hermes gateway takes no --port")
		}
	}
	c, err := resolveAgent(home, "strcmd", 18801)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.GatewayCommand, " ") != "/opt/x/bin/gw run --port 18801" || c.Binary != "/opt/x/bin/gw" ||
		c.HealthURL != "http://127.0.0.1:9000/ok" || c.DisplayName != "strcmd" || c.ForwardPorts[0] != 18801 {
		t.Fatalf("custom: %+v", c)
	}
}
