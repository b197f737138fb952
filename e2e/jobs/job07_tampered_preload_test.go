package jobs

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
)

// Job 7, a tampered staged preload: /tmp/nemoclaw-ciao-network-guard.js
// keeps its 0444 mode but its bytes are not the image's, and it belongs to
// another uid, so the non-root runner (sandbox) cannot rename over it in
// the sticky /tmp. Recovery must refuse (exit 1) rather than launch a
// gateway that would load the planted code, say why in the selected log
// (the content check), start nothing, and leave the file as it found it.
// Owned by root (what a root entrypoint writes) and by the gateway user.
func TestJob07TamperedPreloadRefused(t *testing.T) {
	harness.RequireLab(t)
	t.Parallel()
	s, env := harness.LabT(t, "job07", lab.Options{ExecUser: lab.UserSandbox, EntrypointMode: lab.EntrypointRoot})
	ctx := hangProtection(t, 5*time.Minute)
	const target = "/tmp/nemoclaw-ciao-network-guard.js"

	for _, owner := range []string{"0:0", "1002:1002"} {
		t.Run("owner "+owner, func(t *testing.T) {
			// Planted code in place of the guard, read-only, someone else's.
			rootSh(t, ctx, s, `f=`+target+`; chmod 0644 "$f" && printf '%s\n' "globalThis.__nemoclawLabCiaoGuard = true; /* planted */" >"$f" && chown `+owner+` "$f" && chmod 0444 "$f"`)
			before := fileFacts(t, ctx, s, target)
			if !strings.HasPrefix(before, strings.Split(owner, ":")[0]+" 444 ") {
				t.Fatalf("set-up: %s is %s", target, before)
			}
			if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil && !errors.Is(err, lab.ErrNoGateway) {
				t.Fatal(err)
			}
			noGateway(t, s)

			r, doc := cli(t, ctx, env, "nemoclaw", s.Name, "recover", "--json")
			if r.Code != 1 {
				t.Fatalf("recover with a tampered preload: exit %d, want 1\n%s", r.Code, r)
			}
			wantFields(t, r, doc, "outcome=refused", "diagnostics.failingStep=gateway")
			if reason := harness.Field(doc, "diagnostics.reason"); !strings.Contains(reason, "refusing unguarded gateway relaunch") {
				t.Fatalf("diagnostics.reason = %q, want the refusal\n%s", reason, r)
			}
			log := gatewayLog(t, s, doc)
			for _, want := range []string{
				target + " content differs from trusted source /usr/local/lib/nemoclaw/preloads/ciao-network-guard.js",
				"refusing unguarded gateway relaunch",
			} {
				if !strings.Contains(log, want) {
					t.Fatalf("the log lacks %q:\n%s", want, log)
				}
			}
			if n := launches(log, "OpenClaw"); n != 0 {
				t.Fatalf("the log records %d launches, want none:\n%s", n, log)
			}
			noGateway(t, s)
			if after := fileFacts(t, ctx, s, target); after != before {
				t.Fatalf("%s changed: %s, was %s", target, after, before)
			}
		})
	}
}
