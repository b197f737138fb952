package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/internal/shellquote"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaErr  error
)

// hangProtection bounds one job's commands: a recovery that has not ended
// by then is hung, not slow. It is never what a job asserts.
func hangProtection(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// cli runs one of the built binaries as the operator types it and, with
// --json among args, checks that stdout is one schema-valid report and
// returns it decoded (else nil).
func cli(t *testing.T, ctx context.Context, env []string, bin string, args ...string) (harness.Result, any) {
	t.Helper()
	r := harness.Run(t, ctx, env, bin, args...)
	for _, a := range args {
		if a == "--json" {
			return decode(t, r)
		}
	}
	return r, nil
}

// decode checks that r's stdout is one schema-valid report and decodes it.
func decode(t *testing.T, r harness.Result) (harness.Result, any) {
	t.Helper()
	schemaOnce.Do(func() { schema, schemaErr = harness.CompileSchema() })
	if schemaErr != nil {
		t.Fatal(schemaErr)
	}
	doc, err := harness.DecodeReport(r.Stdout, schema)
	if err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	return r, doc
}

func itoa(n int) string { return strconv.Itoa(n) }

// wantFields fails the test unless each dotted path of the report has the
// value given (path=value pairs).
func wantFields(t *testing.T, r harness.Result, doc any, pairs ...string) {
	t.Helper()
	for _, p := range pairs {
		path, want, _ := strings.Cut(p, "=")
		if got := harness.Field(doc, path); got != want {
			t.Fatalf("%s = %q, want %q\n%s", path, got, want, r)
		}
	}
}

// gatewayLog reads the log the payload selected (the report's gateway.log:
// /tmp/gateway.log, or /tmp/gateway-recovery.log when the runner cannot
// append to the gateway's own) from the host.
func gatewayLog(t *testing.T, s *lab.Sandbox, doc any) string {
	t.Helper()
	path := harness.Field(doc, "gateway.log")
	if path == "" {
		t.Fatalf("the report names no gateway log")
	}
	b, err := os.ReadFile(s.HostPath(path))
	if err != nil {
		t.Fatalf("reading %s's %s: %v", s.Name, path, err)
	}
	return string(b)
}

// mustGateway returns the one gateway process (host pid, sandbox pid).
func mustGateway(t *testing.T, s *lab.Sandbox) (int, int) {
	t.Helper()
	pid, nspid, err := harness.GatewayPID(s)
	if err != nil {
		t.Fatal(err)
	}
	return pid, nspid
}

// noGateway fails the test if any gateway process runs in s.
func noGateway(t *testing.T, s *lab.Sandbox) {
	t.Helper()
	procs, err := s.GatewayProcesses()
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) > 0 {
		t.Fatalf("a gateway runs in %s: %+v", s.Name, procs)
	}
}

// killGatewayTree kills (SIGKILL) every gateway process of s and every
// process descended from one, and waits until none is left.
func killGatewayTree(t *testing.T, ctx context.Context, s *lab.Sandbox) {
	t.Helper()
	for {
		procs, err := s.Processes()
		if err != nil {
			t.Fatal(err)
		}
		tree := map[int]bool{}
		for _, p := range procs {
			if p.IsGateway() {
				tree[p.PID] = true
			}
		}
		// Descendants: a fixed point over parent links.
		for grew := true; grew; {
			grew = false
			for _, p := range procs {
				if !tree[p.PID] && tree[p.PPID] && p.State != "Z" {
					tree[p.PID], grew = true, true
				}
			}
		}
		if len(tree) == 0 {
			return
		}
		for pid := range tree {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Fatalf("killing gateway process %d: %v", pid, err)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gateway processes of %s survive SIGKILL: %v", s.Name, tree)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// rootSh runs a shell command as root inside the sandbox (test set-up and
// assertions, not the product's transport).
func rootSh(t *testing.T, ctx context.Context, s *lab.Sandbox, script string) string {
	t.Helper()
	out, err := s.Output(ctx, lab.UserRoot, "sh", "-c", script)
	if err != nil {
		t.Fatalf("in sandbox %s: %v", s.Name, err)
	}
	return out
}

// fileFacts is "uid mode size sha256" of a file inside the sandbox.
func fileFacts(t *testing.T, ctx context.Context, s *lab.Sandbox, path string) string {
	t.Helper()
	return strings.TrimSpace(rootSh(t, ctx, s, fmt.Sprintf(`p=%s; printf '%%s %%s ' "$(stat -c '%%u %%a %%s' "$p")" "$(sha256sum <"$p" | cut -d' ' -f1)"`, shellquote.Quote(path))))
}

// launches counts the payload's gateway launches recorded in a log.
func launches(log, displayName string) int {
	return strings.Count(log, "launching "+displayName+" gateway: ")
}

// hostGet is one HTTP GET to 127.0.0.1:port from the host (through the
// forward, when it is ours); a request that fails reports code 0 and the
// error as the body.
func hostGet(t *testing.T, ctx context.Context, port int, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body)
}
