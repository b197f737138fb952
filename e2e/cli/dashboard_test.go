package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
)

// `dashboard` against the real OpenClaw gateway: it prints OpenClaw's
// single-use browser link (#bootstrapToken=...) for the forwarded port,
// never the shared #token= URL, and writes neither into any file under
// ~/.nemoclaw (forward logs and state included).
func TestDashboardLinkRealOpenClaw(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real OpenClaw gateway (tens of seconds); skipped in -short")
	}
	harness.RequireRealOpenClaw(t)
	s, env := harness.LabT(t, "dashreal", lab.Options{Gateway: "openclaw"})
	run := func(args ...string) (string, error) {
		cmd := exec.Command(harness.Bin("nemoclaw"), args...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if out, err := run(s.Name, "recover"); err != nil {
		t.Fatalf("recover: %v\n%s", err, out)
	}
	out, err := run(s.Name, "dashboard")
	if err != nil {
		t.Fatalf("dashboard: %v\n%s", err, out)
	}
	prefix := "http://127.0.0.1:" + strconv.Itoa(s.Options.Port) + "/#bootstrapToken="
	i := strings.Index(out, prefix)
	if i < 0 {
		t.Fatalf("no %s link in:\n%s", prefix, out)
	}
	link := strings.Fields(out[i:])[0]
	if strings.Contains(out, "#token=") || strings.Contains(out, "&token=") {
		t.Fatalf("the shared-token URL was printed:\n%s", out)
	}
	shared, err := os.ReadFile(filepath.Join(s.Dir, "openclaw-token"))
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(shared))
	if strings.Contains(out, secret) {
		t.Fatalf("the shared gateway token was printed:\n%s", out)
	}
	bootstrap := strings.SplitN(strings.TrimPrefix(link, prefix), "&", 2)[0]
	filepath.Walk(filepath.Join(s.Options.Home, ".nemoclaw"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), bootstrap) || strings.Contains(string(b), secret) {
			t.Errorf("%s holds the login link's bootstrap or the shared token", p)
		}
		return nil
	})
	// The JSON form carries the same kind of link, schema-valid.
	out, err = run(s.Name, "dashboard", "--json")
	if err != nil || !strings.Contains(out, "#bootstrapToken=") || strings.Contains(out, secret) {
		t.Fatalf("dashboard --json: %v\n%s", err, out)
	}
}
