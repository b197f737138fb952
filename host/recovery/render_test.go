package recovery

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixedReports are runs as the engine fills them, frozen, so the human
// output can be compared byte for byte.
func fixedReports() map[string]*Report {
	ok := newReport("recover", "01936b2e-0000-7000-8000-000000000001", "demo", "openclaw", "OpenClaw", "nemoclaw")
	for i, d := range []string{"ssh nemoclaw-lab-demo", "both guards required in NODE_OPTIONS, staged copies verified",
		"running, pid 61, http://127.0.0.1:18789/health answered 200",
		"dashboard forward healthy: http://127.0.0.1:18789/ pid 4242", `HTTP 200, "OpenClaw Control"`,
		"https://inference.local/v1/models answered HTTP 200"} {
		ok.Steps[i].Status, ok.Steps[i].Detail, ok.Steps[i].DurationMS = OK, d, int64(10*(i+1))
	}
	ok.Steps[2].DurationMS = 1500
	ok.Outcome, ok.Summary, ok.DashboardURL = "already-running", "Probe complete: OpenClaw gateway is running in 'demo'.", "http://127.0.0.1:18789/"

	refused := newReport("recover", "01936b2e-0000-7000-8000-000000000002", "demo", "openclaw", "OpenClaw", "nemoclaw")
	refused.set(RowTransport, OK, "ssh nemoclaw-lab-demo")
	refused.set(RowGuards, Failed, "trusted preload source /usr/local/lib/nemoclaw/preloads/ciao-network-guard.js unavailable - refusing preload install")
	refused.set(RowGateway, Failed, "NODE_OPTIONS missing safety-net preload or ciao preload after trusted recovery - refusing unguarded gateway relaunch (#2478/#2701)")
	refused.skipRest("the gateway is not running")
	refused.Step(RowGuards).Checks = []Check{{Name: "safety-net", Status: OK, Detail: "verified"}, {Name: "ciao", Status: Failed, Detail: "source unavailable"}}
	refused.decisions = []string{"trusted preload source /usr/local/lib/nemoclaw/preloads/ciao-network-guard.js unavailable - refusing preload install"}
	refused.Outcome, refused.ExitCode = "refused", 1
	refused.Summary = "Probe failed: OpenClaw gateway is not running in 'demo' and automatic recovery failed."
	refused.Diagnostics = &Diagnostics{FailingStep: RowGateway, Reason: refused.Step(RowGateway).Detail,
		Log: "/tmp/gateway.log", LogTail: []string{"line 1", "line 2", "[gateway-recovery] ERROR: refusing"},
		Next: "'nemoclaw demo diagnose' shows each guard-chain decision"}
	return map[string]*Report{"ok": ok, "refused": refused}
}

func TestHumanGolden(t *testing.T) {
	looks := map[string]Look{
		"plain":         {},
		"color":         {Color: true},
		"box":           {Box: true},
		"box-color":     {Box: true, Color: true},
		"plain-verbose": {Verbose: true},
		"plain-quiet":   {Quiet: true},
	}
	for rname, r := range fixedReports() {
		for lname, look := range looks {
			var b bytes.Buffer
			NewRenderer(&b, look).Report(r)
			path := filepath.Join("testdata", rname+"-"+lname+".golden")
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update once)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s: human output changed:\n--- got\n%s\n--- want\n%s", path, b.String(), want)
			}
		}
	}
}

// The rules the goldens are made of, checked on their own so a golden
// rewritten in haste cannot hide a regression.
func TestHumanRules(t *testing.T) {
	for _, r := range fixedReports() {
		for _, look := range []Look{{}, {Box: true}} {
			var b bytes.Buffer
			NewRenderer(&b, look).Report(r)
			out := b.String()
			if !strings.HasPrefix(out, "  "+r.Summary+"\n") {
				t.Errorf("the first line is not the summary with two spaces:\n%s", out)
			}
			if strings.Contains(out, "\x1b[") {
				t.Errorf("colour codes without Color:\n%s", out)
			}
			box := strings.ContainsAny(out, "╭│─")
			if box != look.Box {
				t.Errorf("box drawing %v with Box %v:\n%s", box, look.Box, out)
			}
			if r.ExitCode != 0 && !strings.Contains(out, "  Next: ") {
				t.Errorf("a failure without a next step:\n%s", out)
			}
		}
		var b bytes.Buffer
		NewRenderer(&b, Look{Color: true}).Report(r)
		if !strings.Contains(b.String(), "\x1b[") {
			t.Errorf("Color did not colour:\n%s", b.String())
		}
	}
}

// The JSON form keeps the spec's fields and nothing human-only.
func TestJSONFields(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, fixedReports()["refused"]); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schemaVersion", "runId", "sandbox", "agent", "outcome", "exitCode", "steps", "diagnostics"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q:\n%s", k, b.String())
		}
	}
	if strings.Contains(b.String(), "decisions\": null") {
		t.Errorf("null list in JSON:\n%s", b.String())
	}
}
