package templates

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/shellquote"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// custom is a custom agent as host/agents.go builds one from
// ~/.nemoclaw/agents/<name>.json.
func custom() Agent {
	return Agent{
		Name:           "my-agent",
		DisplayName:    "My Agent (it's custom)",
		GatewayCommand: []string{"/opt/myagent/bin/mygw", "serve", "--label", "it's $(not) `run`", "--port", "18800"},
		HealthURL:      "http://127.0.0.1:18800/healthz",
		Binary:         "/opt/myagent/bin/mygw",
	}
}

// variants are every rendered shape of the payload: each gets a golden
// file, sh -n under dash and bash, and shellcheck.
func variants() map[string]Params {
	base := func(a Agent) Params { return Params{Agent: a, Port: 18789, RunID: "golden-run-0001"} }
	v := map[string]Params{}
	v["openclaw"] = base(OpenClaw(18789))
	p := base(OpenClaw(18789))
	p.Check = true
	v["openclaw-check"] = p
	p = base(OpenClaw(19000))
	p.Port = 19000
	p.Deadline, p.Readiness, p.NoSettle, p.StopGrace = 30*time.Second, 20*time.Second, true, 1500*time.Millisecond
	v["openclaw-port-budgets"] = p
	v["hermes"] = base(Hermes())
	p = base(Hermes())
	p.Check = true
	v["hermes-check"] = p
	p = base(Hermes())
	p.HermesDashboard = HermesDashboard{Enabled: true, Port: 18789, InternalPort: 9119}
	v["hermes-dashboard"] = p
	p = base(Hermes())
	p.HermesDashboard = HermesDashboard{Enabled: true, Port: 18789, InternalPort: 9119, TUI: true}
	v["hermes-dashboard-tui"] = p
	p = base(Hermes())
	p.Mode = ModeHermesDashboard
	v["hermes-dashboard-only"] = p
	p = base(Hermes())
	p.Mode, p.Check = ModeHermesDashboard, true
	v["hermes-dashboard-only-check"] = p
	p = base(custom())
	p.Port = 18800
	v["custom"] = p
	return v
}

func render(t *testing.T, p Params) []byte {
	t.Helper()
	b, err := Render(p)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return b
}

// TestGolden compares every variant's whole rendering with the checked-in
// golden render testdata/golden/<variant>.sh. Each variant carries only its
// own agent's, mode's and dashboard's code, so each has its own file; a
// reviewer reads a template change in the diff of the variants it reaches.
func TestGolden(t *testing.T) {
	if *update {
		old, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.sh"))
		for _, p := range old {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, p := range variants() {
		t.Run(name, func(t *testing.T) {
			got := render(t, p)
			path := filepath.Join("testdata", "golden", name+".sh")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./templates -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendering; review the diff and run with -update", path)
			}
		})
	}
}

// TestVariantsParseAndLint runs every variant through dash -n, bash -n and
// shellcheck -s sh: the script must be POSIX and clean.
func TestVariantsParseAndLint(t *testing.T) {
	dash := testenv.RequireBinary(t, "dash")
	bash := testenv.RequireBinary(t, "bash")
	shellcheck := testenv.RequireBinary(t, "shellcheck")
	for name, p := range variants() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			script := render(t, p)
			for _, c := range [][]string{{dash, "-n"}, {bash, "--posix", "-n"}, {shellcheck, "-s", "sh", "-"}} {
				cmd := exec.Command(c[0], c[1:]...)
				cmd.Stdin = bytes.NewReader(script)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s: %v\n%s", strings.Join(c, " "), err, out)
				}
			}
			if bytes.Contains(script, []byte("gateway launching without library guards")) {
				t.Error("the old warn-and-launch line must never be in the payload")
			}
		})
	}
}

// allVariants is every combination of agent, mode, check and dashboard
// that Render accepts (the golden variants are a readable subset).
func allVariants() map[string]Params {
	v := map[string]Params{}
	for _, check := range []bool{false, true} {
		suffix := ""
		if check {
			suffix = "-check"
		}
		for _, a := range []Agent{OpenClaw(18789), Hermes(), custom()} {
			// A run id as long as the host's (a UUID).
			p := Params{Agent: a, Port: 18789, RunID: "0197a5d2-7c1e-7b3a-9f64-2d8e1c0b5a47", Check: check}
			v[a.Name+suffix] = p
			if a.Name == "hermes" {
				p.HermesDashboard = HermesDashboard{Enabled: true, TUI: true}
				v[a.Name+"-dashboard"+suffix] = p
				p.Mode = ModeHermesDashboard
				v[a.Name+"-dashboard-only"+suffix] = p
			}
		}
	}
	return v
}

// TestExecFallbackArgumentSize: in the OpenShell exec fallback
// (sandboxexec/openshell.go, Run) the script travels as ONE argv string,
// base64(execScript(script, env)), and Linux caps a single argument at
// MAX_ARG_STRLEN = 32 pages = 128 KiB. execScript puts one
// `export NAME='value'` line per env entry before the script; the payload
// needs none (every value is in its header), and 4 KiB is allowed for any
// the host adds. base64 makes 4 bytes of every 3, rounded up. Every variant
// must stay under 96 KiB there, a quarter below the limit; the OpenClaw
// recovery variant, the one pushed most, under 30 KB of script (issue 9
// item 10).
func TestExecFallbackArgumentSize(t *testing.T) {
	const envAllowance = 4 << 10
	for name, p := range allVariants() {
		script := render(t, p)
		arg := base64.StdEncoding.EncodedLen(len(script) + envAllowance)
		t.Logf("%-28s %6d bytes, exec-fallback argument %6d bytes", name, len(script), arg)
		if arg >= 96<<10 {
			t.Errorf("%s: the exec-fallback argument would be %d bytes, want < %d", name, arg, 96<<10)
		}
		if name == "openclaw" && len(script) >= 30000 {
			t.Errorf("the OpenClaw recovery variant is %d bytes, want < 30000", len(script))
		}
	}
}

// TestVariantsCarryOnlyTheirCode: a variant renders the functions of its
// own agent, mode and dashboard, and not the others' (issue 9 item 10).
func TestVariantsCarryOnlyTheirCode(t *testing.T) {
	v := allVariants()
	cases := []struct {
		variant string
		has     []string
		lacks   []string
	}{
		{"openclaw", []string{"nc_lock_busy()", "nc_launch_gateway()", "nc_remove_openclaw_locks()", "gosu", "nc_recreate_proxy_env()"},
			[]string{"nc_secret_boundary_step()", "nc_dashboard_step()", "nc_dashboard_only_flow()", "would-change", "would-recover", "nc_predicted_node_options()", "NC_HERMES", "refusing unguarded dashboard relaunch"}},
		{"openclaw-check", []string{"would-change", "nc_predicted_node_options()", "nc_lock_live()"},
			[]string{"nc_lock_busy()", "nc_spawn()", "nc_stage_copy()", "nc_recreate_proxy_env()", "nc_stop_processes()", "gosu"}},
		{"my-agent", []string{"nc_launch_gateway()"},
			[]string{"gosu", "nc_remove_openclaw_locks()", "nc_secret_boundary_step()", "nc_dashboard_step()"}},
		{"hermes", []string{"nc_secret_boundary_step()", "nc_runtime_env_ok()", "NC_LAUNCH_UMASK=0007"},
			[]string{"gosu", "nc_remove_openclaw_locks()", "nc_dashboard_step()", "nc_dashboard_only_flow()"}},
		{"hermes-dashboard", []string{"nc_dashboard_step()", "nc_gateway_flow()", "--tui", "refusing unguarded dashboard relaunch", "refusing unguarded gateway relaunch"},
			[]string{"nc_dashboard_only_flow()"}},
		{"hermes-dashboard-only", []string{"nc_dashboard_only_flow()", "refusing unguarded dashboard relaunch"},
			[]string{"nc_gateway_flow()", "nc_launch_gateway()", "nc_stale_step()", "refusing unguarded gateway relaunch"}},
		{"hermes-dashboard-only-check", []string{"nc_dashboard_only_flow()", "would-change"},
			[]string{"nc_spawn()", "nc_runtime_env_ok()", "nc_open_dashboard_log()"}},
	}
	for _, c := range cases {
		p, ok := v[c.variant]
		if !ok {
			t.Fatalf("no variant %q", c.variant)
		}
		script := string(render(t, p))
		for _, s := range c.has {
			if !strings.Contains(script, s) {
				t.Errorf("%s lacks %q", c.variant, s)
			}
		}
		for _, s := range c.lacks {
			if strings.Contains(script, s) {
				t.Errorf("%s carries %q", c.variant, s)
			}
		}
	}
}

// TestTruncatedUploadRunsNothing: the body is one brace group, so any prefix
// of the script is a syntax error and runs nothing, even the header.
func TestTruncatedUploadRunsNothing(t *testing.T) {
	dash := testenv.RequireBinary(t, "dash")
	script := render(t, variants()["openclaw"])
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	// A truncated script whose cut falls right after a complete command
	// would run it if the body were not wrapped; put a marker command first
	// to prove nothing ran.
	probe := []byte("{ touch " + shellquote.Quote(marker) + "\n")
	cut := append(probe, script[:len(script)/2]...)
	cmd := exec.Command(dash, "-s")
	cmd.Stdin = bytes.NewReader(cut)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a truncated payload parsed and exited 0:\n%s", out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a command of the truncated payload ran")
	}
	if bytes.Contains(out, []byte("@nemoclaw")) {
		t.Fatalf("a truncated payload printed a machine line:\n%s", out)
	}
}

func TestRenderRejectsBadInput(t *testing.T) {
	good := variants()["openclaw"]
	cases := []struct {
		why    string
		mutate func(p *Params)
	}{
		{"port 0 is not a port", func(p *Params) { p.Port = 0 }},
		{"port above 65535", func(p *Params) { p.Port = 70000 }},
		{"agent names are sandbox-name shaped (they become file names)", func(p *Params) { p.Agent.Name = "../etc" }},
		{"upper-case agent name", func(p *Params) { p.Agent.Name = "OpenClaw" }},
		{"empty display name", func(p *Params) { p.Agent.DisplayName = "" }},
		{"newline in display name would break log lines", func(p *Params) { p.Agent.DisplayName = "a\nb" }},
		{"empty gateway command", func(p *Params) { p.Agent.GatewayCommand = nil }},
		{"empty word in command", func(p *Params) { p.Agent.GatewayCommand = []string{"openclaw", ""} }},
		{"shell text as the program", func(p *Params) { p.Agent.GatewayCommand = []string{"openclaw;rm", "x"} }},
		{"relative path program", func(p *Params) { p.Agent.GatewayCommand = []string{"./gw"} }},
		{"env without a program", func(p *Params) { p.Agent.GatewayCommand = []string{"env", "A=b"} }},
		{"NUL in an argument", func(p *Params) { p.Agent.GatewayCommand = []string{"openclaw", "a\x00b"} }},
		{"health URL not http", func(p *Params) { p.Agent.HealthURL = "file:///etc/passwd" }},
		{"health URL with a space", func(p *Params) { p.Agent.HealthURL = "http://127.0.0.1:1/ x" }},
		{"health URL port out of range", func(p *Params) { p.Agent.HealthURL = "http://127.0.0.1:99999/health" }},
		{"binary with a slash but relative", func(p *Params) { p.Agent.Binary = "bin/openclaw" }},
		{"binary path not clean", func(p *Params) { p.Agent.Binary = "/usr/local/../bin/x" }},
		{"binary with shell text", func(p *Params) { p.Agent.Binary = "$(id)" }},
		{"run id with a space would forge fields", func(p *Params) { p.RunID = "a b" }},
		{"empty run id", func(p *Params) { p.RunID = "" }},
		{"negative deadline", func(p *Params) { p.Deadline = -time.Second }},
		{"readiness longer than the deadline", func(p *Params) { p.Deadline, p.Readiness = 10*time.Second, 20*time.Second }},
		{"negative settle", func(p *Params) { p.Settle = -time.Second }},
		{"a stop grace too short to let anything exit", func(p *Params) { p.StopGrace = time.Millisecond }},
		{"a stop grace longer than a minute", func(p *Params) { p.StopGrace = 2 * time.Minute }},
		{"unknown mode", func(p *Params) { p.Mode = Mode(7) }},
		{"dashboard-only needs hermes", func(p *Params) { p.Mode = ModeHermesDashboard }},
		{"dashboard port out of range", func(p *Params) {
			p.Agent = Hermes()
			p.HermesDashboard = HermesDashboard{Enabled: true, Port: 18789, InternalPort: 70000}
		}},
	}
	for _, c := range cases {
		p := good
		p.Agent.GatewayCommand = append([]string(nil), good.Agent.GatewayCommand...)
		c.mutate(&p)
		b, err := Render(p)
		if err == nil {
			t.Errorf("%s: Render accepted it", c.why)
		}
		if b != nil {
			t.Errorf("%s: Render returned %d bytes with its error", c.why, len(b))
		}
	}
}

// TestHeaderCarriesHostileValuesAsData: a display name and command words full
// of shell syntax reach the script as exactly those bytes.
func TestHeaderCarriesHostileValuesAsData(t *testing.T) {
	sh := testenv.RequireBinary(t, "dash")
	p := variants()["custom"]
	script := render(t, p)
	hdr, _, ok := bytes.Cut(script, []byte("\nreadonly NC_SAFETY_NET_SRC="))
	if !ok {
		t.Fatal("header end not found")
	}
	// Run only the header, then print the values the body would use.
	prog := string(hdr) + "\nprintf '%s\\n' \"$NC_DISPLAY_NAME\"\neval \"set -- $NC_GATEWAY_ARGV\"\nfor w in \"$@\"; do printf '<%s>\\n' \"$w\"; done\n}\n"
	out, err := exec.Command(sh, "-c", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := p.Agent.DisplayName + "\n"
	for _, w := range p.Agent.GatewayCommand {
		want += "<" + w + ">\n"
	}
	if string(out) != want {
		t.Fatalf("header round trip:\n got %q\nwant %q", out, want)
	}
}

func TestProcessPattern(t *testing.T) {
	cases := []struct {
		why   string
		argv  []string
		title string
		want  string
	}{
		{"OpenClaw: NemoClaw's pattern plus the renamed process", OpenClaw(18789).GatewayCommand, openClawTitle,
			"[o]penclaw([[:space:]]+gateway[[:space:]]+run|-gateway)([[:space:]]|$)"},
		{"Hermes: skips env and its assignment", Hermes().GatewayCommand, "",
			"[h]ermes[[:space:]]+gateway[[:space:]]+run([[:space:]]|$)"},
		{"the Hermes dashboard: stops at the first option", hermesDashboardArgv(HermesDashboard{InternalPort: 9119, TUI: true}), "",
			"[h]ermes[[:space:]]+dashboard([[:space:]]|$)"},
		{"absolute program: base name only", []string{"/opt/x/bin/mygw", "serve"}, "", "[m]ygw[[:space:]]+serve([[:space:]]|$)"},
		{"an option is not a subcommand", []string{"mygw", "--port", "1"}, "", "[m]ygw([[:space:]]|$)"},
		{"regex metacharacters are escaped", []string{"my.gw+", "run"}, "", `[m]y\.gw\+[[:space:]]+run([[:space:]]|$)`},
		{"a leading metacharacter is bracketed, not escaped", []string{".gw"}, "", `[.]gw([[:space:]]|$)`},
		{"a title that is not the program's is ignored", []string{"gw", "run"}, "other", "[g]w[[:space:]]+run([[:space:]]|$)"},
	}
	for _, c := range cases {
		if got := processPattern(c.argv, c.title); got != c.want {
			t.Errorf("%s: processPattern(%q, %q) = %q, want %q", c.why, c.argv, c.title, got, c.want)
		}
	}
}

// TestProcessPatternMatches runs the patterns through awk, as the payload
// does, against command lines ps prints: what a stale-process stop may kill
// and what it must leave alone (issue 9 item 6).
func TestProcessPatternMatches(t *testing.T) {
	awk := testenv.RequireBinary(t, "awk")
	oc := processPattern(OpenClaw(18789).GatewayCommand, openClawTitle)
	he := processPattern(Hermes().GatewayCommand, "")
	dash := processPattern(hermesDashboardArgv(HermesDashboard{}), "")
	cases := []struct {
		pattern, line string
		want          bool
	}{
		{oc, "/usr/bin/node /usr/local/bin/openclaw gateway run --port 18789", true},
		{oc, "openclaw gateway run", true},
		{oc, "openclaw-gateway", true},
		{oc, "openclaw-gateway --port 18789", true},
		{oc, "openclaw gateway status", false},
		{oc, "openclaw gateway runner", false},
		{oc, "openclaw-gateways", false},
		{oc, "openclaw tui", false},
		{oc, "grep [o]penclaw([[:space:]]+gateway", false},
		{he, "/usr/bin/python3 /usr/local/bin/hermes gateway run", true},
		{he, "hermes  gateway   run", true},
		{he, "hermes gateway status", false},
		{he, "hermes gateway start", false},
		{he, "hermes dashboard --host 127.0.0.1", false},
		{dash, "hermes dashboard --host 127.0.0.1 --port 9119 --skip-build --no-open --tui", true},
		{dash, "hermes dashboard", true},
		{dash, "hermes dashboards", false},
		{dash, "hermes gateway run", false},
	}
	var in strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&in, "%s\t%s\n", c.pattern, c.line)
	}
	cmd := exec.Command(awk, "-F\t", `{ p = $1; $1 = ""; print ($0 ~ p) ? "yes" : "no" }`)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(out))
	if len(got) != len(cases) {
		t.Fatalf("awk answered %d times for %d cases: %q", len(got), len(cases), out)
	}
	for i, c := range cases {
		if (got[i] == "yes") != c.want {
			t.Errorf("%q ~ %q = %s, want %v", c.line, c.pattern, got[i], c.want)
		}
	}
}
