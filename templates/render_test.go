package templates

import (
	"bytes"
	"flag"
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
	p.Deadline, p.Readiness, p.NoSettle = 30*time.Second, 20*time.Second, true
	v["openclaw-port-budgets"] = p
	v["hermes"] = base(Hermes())
	p = base(Hermes())
	p.Check = true
	v["hermes-check"] = p
	p = base(Hermes())
	p.HermesDashboard = HermesDashboard{Enabled: true, Port: 18789, InternalPort: 9119}
	v["hermes-dashboard"] = p
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

// bodyMarker starts the part of the payload that is the same for every
// variant (everything a variant changes is in the readonly header above it).
const bodyMarker = "# Paths and facts of the sandbox images"

// TestGolden compares every variant's whole rendering with the checked-in
// golden render: testdata/golden/<variant>.sh holds the variant's header,
// and testdata/golden/body.sh the body every variant shares, so the
// rendering must equal header + body byte for byte. (One body file instead
// of nine copies of it: a reviewer reads a body change once.)
func TestGolden(t *testing.T) {
	bodyPath := filepath.Join("testdata", "golden", "body.sh")
	var wantBody []byte
	if !*update {
		var err error
		if wantBody, err = os.ReadFile(bodyPath); err != nil {
			t.Fatalf("%v (run go test ./templates -run TestGolden -update)", err)
		}
	}
	for name, p := range variants() {
		t.Run(name, func(t *testing.T) {
			got := render(t, p)
			i := bytes.Index(got, []byte(bodyMarker))
			if i < 0 {
				t.Fatalf("rendering has no %q line", bodyMarker)
			}
			header, body := got[:i], got[i:]
			path := filepath.Join("testdata", "golden", name+".sh")
			if *update {
				if err := os.WriteFile(path, header, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(bodyPath, body, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./templates -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, append(want, wantBody...)) {
				t.Errorf("%s + %s differ from the rendering; review the diff and run with -update", path, bodyPath)
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
	hdr, _, ok := bytes.Cut(script, []byte("\n# Paths and facts"))
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
		why  string
		argv []string
		want string
	}{
		{"OpenClaw: matches `openclaw gateway` and the `openclaw-gateway` title", OpenClaw(18789).GatewayCommand, "[o]penclaw[ -]gateway"},
		{"Hermes: skips env and its assignment", Hermes().GatewayCommand, "[h]ermes[ -]gateway"},
		{"absolute program: base name only", []string{"/opt/x/bin/mygw", "serve"}, "[m]ygw[ -]serve"},
		{"an option is not a subcommand", []string{"mygw", "--port", "1"}, "[m]ygw"},
		{"regex metacharacters are escaped", []string{"my.gw+", "run"}, `[m]y\.gw\+[ -]run`},
		{"a leading metacharacter is bracketed, not escaped", []string{".gw"}, `[.]gw`},
	}
	for _, c := range cases {
		if got := processPattern(c.argv); got != c.want {
			t.Errorf("%s: processPattern(%q) = %q, want %q", c.why, c.argv, got, c.want)
		}
	}
}
