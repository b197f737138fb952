package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
)

// A file as NemoClaw writes it, with fields this package does not know.
const nemoclawFile = `{
  "sandboxes": {
    "demo": {
      "name": "demo",
      "agent": "hermes",
      "dashboardPort": 18790,
      "model": "nvidia/nemotron",
      "provider": "nvidia",
      "createdAt": "2026-06-01T10:00:00Z",
      "policies": ["pypi", "npm"],
      "hermesDashboardEnabled": false
    },
    "other": {"name": "other", "dashboardPort": "not-a-port"}
  },
  "defaultSandbox": "demo",
  "schemaVersion": 3
}
`

func TestParseKnownFields(t *testing.T) {
	r, err := Parse("x", []byte(nemoclawFile))
	if err != nil {
		t.Fatal(err)
	}
	d := r.Sandboxes["demo"]
	if d == nil || d.Agent != "hermes" || d.DashboardPort != 18790 || d.Model != "nvidia/nemotron" {
		t.Fatalf("demo parsed wrong: %+v", d)
	}
	if r.DefaultSandbox != "demo" {
		t.Fatalf("default = %q", r.DefaultSandbox)
	}
	// An invalid port is "not set", not an unreadable registry (SPEC §3.2).
	if p := r.Sandboxes["other"].DashboardPort; p != 0 {
		t.Fatalf("invalid port read as %d", p)
	}
	if got := strings.Join(r.Names(), ","); got != "demo,other" {
		t.Fatalf("names = %s", got)
	}
}

// Unknown fields must survive a read-modify-write: NemoClaw owns them.
func TestUpdatePreservesUnknownFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".nemoclaw", "sandboxes.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(nemoclawFile), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Update(path, func(r *Registry) error {
		r.Sandboxes["lab1"] = &Sandbox{Name: "lab1", Agent: "openclaw", DashboardPort: 18791,
			Transport: &Transport{Kind: KindSSH, SSHConfig: "/x/cfg", Host: "lab1"}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"createdAt": "2026-06-01T10:00:00Z"`, `"schemaVersion": 3`, `"policies": [`,
		`"hermesDashboardEnabled": false`, `"dashboardPort": "not-a-port"`, `"sshConfig": "/x/cfg"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("rewritten registry lost %s:\n%s", want, data)
		}
	}
	r, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if tr := r.Sandboxes["lab1"].Transport; tr == nil || tr.Kind != KindSSH || tr.Host != "lab1" {
		t.Fatalf("transport not round-tripped: %+v", tr)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("registry mode %v, want 0600", st.Mode().Perm())
	}
	dst, _ := os.Stat(filepath.Dir(path))
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("registry dir mode %v, want 0700", dst.Mode().Perm())
	}
}

// A registry that does not parse is reported with line and column and never
// rewritten, whatever the update wanted to do.
func TestBadRegistryIsNeverRewritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandboxes.json")
	bad := "{\n  \"sandboxes\": {\n    \"a\": {\"name\": \"a\",}\n  }\n}\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	called := false
	err := Update(path, func(*Registry) error { called = true; return nil })
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("want *ParseError, got %v", err)
	}
	if pe.Line != 3 || pe.ExitCode() != 2 || !strings.Contains(pe.Error(), path+":3:") {
		t.Fatalf("position wrong: %v (line %d col %d)", pe, pe.Line, pe.Col)
	}
	if called {
		t.Fatal("update function ran on an unparsable registry")
	}
	if data, _ := os.ReadFile(path); string(data) != bad {
		t.Fatalf("bad registry was rewritten:\n%s", data)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"truncated", `{"sandboxes": {"a": `},
		{"sandboxes not an object", `{"sandboxes": [1,2]}`},
		{"default not a string", `{"defaultSandbox": 7}`},
		{"top-level null", `null`},
		{"transport wrong type", `{"sandboxes": {"a": {"transport": "ssh"}}}`},
	} {
		if _, err := Parse("p", []byte(tc.in)); err == nil {
			t.Errorf("%s: parsed without error", tc.name)
		}
	}
	// Missing file and empty file are an empty registry, not an error.
	r, err := Load(filepath.Join(t.TempDir(), "absent.json"))
	if err != nil || len(r.Sandboxes) != 0 {
		t.Fatalf("missing file: %v %v", r, err)
	}
}

// Concurrent writers (several CLI processes registering at once) must not
// lose each other's entries: the lock serialises read-modify-write.
func TestConcurrentUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandboxes.json")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("sb%d", i)
			if err := Update(path, func(r *Registry) error {
				r.Sandboxes[name] = &Sandbox{Name: name}
				return nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Sandboxes) != 16 {
		t.Fatalf("got %d entries, want 16: %v", len(r.Sandboxes), r.Names())
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(nemoclawFile))
	f.Add([]byte(`{"sandboxes":{"a":{"transport":{"kind":"ssh","host":"h"}}},"defaultSandbox":null}`))
	f.Add([]byte(`{"sandboxes":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("fuzz", data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 || pe.Col < 1 {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		r2, err := Parse("again", out)
		if err != nil {
			t.Fatalf("re-parse of our own output: %v\n%s", err, out)
		}
		if len(r2.Sandboxes) != len(r.Sandboxes) || r2.DefaultSandbox != r.DefaultSandbox {
			t.Fatalf("round trip changed the registry")
		}
	})
}

// A registry that cannot be read is named with the OS's reason, not as a
// parse error at a made-up position.
func TestLoadUnreadableNamesPathAndReason(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sandboxes.json")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var re *ReadError
	if !errors.As(err, &re) || exitcode.Of(err) != exitcode.Usage {
		t.Fatalf("Load of a directory: %v (%T), want a *ReadError with exit 2", err, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, path) || !strings.Contains(msg, "is a directory") || strings.Contains(msg, ":0:0") {
		t.Fatalf("message %q should name the path and the OS error", msg)
	}
}

// What NemoClaw writes for an OpenClaw sandbox ("agent": null) survives a
// rewrite as null, and the Hermes fields this tool reads are read.
func TestNemoClawNullAgentAndHermesFields(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sandboxes.json")
	in := `{"sandboxes": {"oc": {"name": "oc", "agent": null, "dashboardPort": 18789},
	  "hm": {"name": "hm", "agent": "hermes", "hermesDashboardEnabled": true, "hermesDashboardTui": true,
	         "hermesDashboardPort": 9119, "hermesDashboardInternalPort": 9120, "hermesApiPort": "8642"}},
	  "defaultSandbox": "oc"}`
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if a := r.Sandboxes["oc"].Agent; a != "" {
		t.Errorf("agent null read as %q, want empty (OpenClaw)", a)
	}
	h := r.Sandboxes["hm"]
	if !h.HermesDashboardEnabled || !h.HermesDashboardTui || h.HermesDashboardPort != 9119 || h.HermesDashboardInternalPort != 9120 || h.HermesAPIPort != 8642 {
		t.Errorf("hermes fields: %+v", h)
	}
	if err := Update(path, func(*Registry) error { return nil }); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(path)
	if !strings.Contains(string(out), `"agent": null`) {
		t.Errorf("a rewrite turned \"agent\": null into something else:\n%s", out)
	}
}

// No transport object, or one naming no kind, is OpenShell (SPEC §3.1).
func TestTransportKind(t *testing.T) {
	for _, c := range []struct {
		sb   Sandbox
		want string
	}{
		{Sandbox{}, KindOpenShell},
		{Sandbox{Transport: &Transport{}}, KindOpenShell},
		{Sandbox{Transport: &Transport{Kind: KindSSH}}, KindSSH},
		{Sandbox{Transport: &Transport{Kind: "telnet"}}, "telnet"},
	} {
		if got := c.sb.TransportKind(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.sb.Transport, got, c.want)
		}
	}
}
