package host

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/templates"
	"github.com/urfave/cli/v2"
)

// testApp has the shapes normalizeArgs must handle: a global command with a
// subcommand, and sandbox actions with value and boolean flags.
func testApp() *cli.App {
	return &cli.App{
		Name: "nemoclaw",
		Commands: []*cli.Command{
			{Name: "list", Flags: commonFlags()},
			{Name: "debug", Subcommands: []*cli.Command{{Name: "payload", Flags: append(commonFlags(),
				&cli.StringFlag{Name: "agent"}, &cli.IntFlag{Name: "port"}, &cli.BoolFlag{Name: "check"})}}},
			{Name: "forward", Subcommands: []*cli.Command{{Name: "list"}}},
			{Name: sandboxCommandName, Subcommands: []*cli.Command{
				{Name: "connect", Flags: append(commonFlags(), &cli.BoolFlag{Name: "probe-only"})},
				{Name: "exec", Flags: commonFlags()},
				{Name: "forward", Subcommands: []*cli.Command{{Name: "start", Flags: commonFlags()}}},
			}},
		},
	}
}

func TestNormalizeArgs(t *testing.T) {
	for _, tc := range []struct {
		why  string
		in   string
		want string
	}{
		{"flags after <name> <action> move before the positionals", "demo connect --probe-only --json",
			"sandbox connect --probe-only --json demo"},
		{"global flags before the name move after the action", "--json demo connect",
			"sandbox connect --json demo"},
		{"a missing action means connect", "demo", "sandbox connect demo"},
		{"a value flag keeps its value, even one that looks positional", "demo connect --timeout 5s --color never",
			"sandbox connect --timeout 5s --color never demo"},
		{"--flag=value stays one token", "demo connect --timeout=5s", "sandbox connect --timeout=5s demo"},
		{"everything after -- is passed through untouched", "demo exec --json -- sh -c 'exit 3' --json",
			"sandbox exec --json demo -- sh -c 'exit 3' --json"},
		{"global commands and their subcommands are recognised", "debug payload --agent hermes --check",
			"debug payload --agent hermes --check"},
		{"flags after a global command's positionals", "debug payload --port 1 --agent x",
			"debug payload --port 1 --agent x"},
		{"sandbox action subcommands are recognised", "demo forward start --json",
			"sandbox forward start --json demo"},
		{"global forward list is not a sandbox named forward", "forward list", "forward list"},
		{"unknown flags are kept so urfave rejects them", "demo connect --bogus", "sandbox connect --bogus demo"},
	} {
		t.Run(tc.why, func(t *testing.T) {
			got, err := normalizeArgs(testApp(), append([]string{"nemoclaw"}, shellSplit(tc.in)...))
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string{"nemoclaw"}, shellSplit(tc.want)...)
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("\n got %q\nwant %q", got, want)
			}
		})
	}
}

// shellSplit splits on spaces, honouring single quotes (enough for tables).
func shellSplit(s string) []string {
	var out []string
	var cur strings.Builder
	in, any := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			in, any = !in, true
		case r == ' ' && !in:
			if any {
				out = append(out, cur.String())
			}
			cur.Reset()
			any = false
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if any {
		out = append(out, cur.String())
	}
	return out
}

func TestSandboxNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"demo": true, "a": true, "a-1": true, "0abc": true, strings.Repeat("a", 63): true,
		"": false, "-a": false, "a-": false, "Demo": false, "a_b": false, "a.b": false,
		strings.Repeat("a", 64): false, "../x": false, "a b": false, "$(id)": false,
	} {
		if err := ValidateSandboxName(name); (err == nil) != ok {
			t.Errorf("ValidateSandboxName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

// Invalid names and bad flags are usage errors (exit 2) and reach no action.
func TestRunUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		why  string
		args []string
		code int
		msg  string
	}{
		{"invalid sandbox name", []string{"Bad_Name", "connect"}, 2, "invalid sandbox name"},
		{"unknown flag on version", []string{"version", "--bogus"}, 2, "bogus"},
		{"unknown action", []string{"demo", "frobnicate"}, 2, `unknown action "frobnicate"`},
	} {
		t.Run(tc.why, func(t *testing.T) {
			var out, errb bytes.Buffer
			inv := &Invocation{Brand: BrandFor("nemoclaw"), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
				Getenv: func(string) string { return "" }}
			code := inv.Run(context.Background(), append([]string{"nemoclaw"}, tc.args...))
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.msg) {
				t.Fatalf("stderr %q does not mention %q", errb.String(), tc.msg)
			}
		})
	}
}

func TestVersionAndBrand(t *testing.T) {
	for _, brand := range []string{"nemoclaw", "nemohermes", "/usr/bin/nemohermes"} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), brand, []string{brand, "version"}, strings.NewReader(""), &out, &errb)
		want := BrandFor(brand).Name + " "
		if code != 0 || !strings.HasPrefix(out.String(), want) {
			t.Fatalf("%s version: exit %d, out %q", brand, code, out.String())
		}
	}
	if BrandFor("/opt/bin/nemohermes").Name != "nemohermes" || BrandFor("anything-else").Name != "nemoclaw" {
		t.Fatal("brand names wrong")
	}
}

// --timeout gives the payload a deadline inside the host's own and a
// readiness budget that grows with it: a slow gateway gets more time when
// the operator gives more (the real OpenClaw took up to 182 s under load).
func TestPayloadBudgets(t *testing.T) {
	d, r := payloadBudgets(0)
	if d != templates.DefaultDeadline || r != templates.DefaultReadiness {
		t.Errorf("no --timeout: %s/%s, want the defaults", d, r)
	}
	d, r = payloadBudgets(10 * time.Minute)
	if d >= 10*time.Minute || d < 9*time.Minute || r <= templates.DefaultReadiness || r >= d {
		t.Errorf("--timeout 10m: deadline %s, readiness %s; want a deadline just inside 10m and readiness above 90s and below it", d, r)
	}
	d, r = payloadBudgets(10 * time.Second)
	if d > 10*time.Second || r >= d || r <= 0 {
		t.Errorf("--timeout 10s: deadline %s, readiness %s", d, r)
	}
}
