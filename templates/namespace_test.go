package templates_test

// Whole-script tests of the recovery payload (issue 2, "Tests (real, not
// fragments)"; SPEC §5, §10 items 1–6). Every case renders the complete
// payload with templates.Render and runs it, unmodified, with dash and with
// bash, as root and (setpriv) as the sandbox user, in a fresh private mount +
// network + PID namespace over the real paths (nstest_harness_test.go). Each
// asserts the exit status, the result lines, the files' bytes/owner/mode,
// the log, and what the gateway was started with.
//
// Run: go test -count=1 ./templates/ -run Namespace -v   (as root)
//
// Known disagreements between the payload and SPEC/contract (the tests assert
// the SPEC; keep this list current): none. Planted bugs (NSTEST_MUTATE:
// globbing on while splitting NODE_OPTIONS, no content check of staged
// copies, no settle hold, sourcing the untrusted proxy-env, ignoring a live
// lock, a wrong dashboard argv; issue 9: the validator's old interface, the
// runtime-env check on a healthy gateway or skipped before a launch, its
// stderr not logged, inherited code-loading NODE_OPTIONS kept, no
// proxy-env recreation, an existing proxy-env overwritten, the payload's
// umask or locale leaking to the gateway, Hermes not at 0007, no --tui, the
// dashboard's output in the gateway log, any 30x as a live dashboard, the
// gateway's refusal words for the dashboard, process patterns without
// `run` or the renamed OpenClaw process, allow-list entries or unquoted
// values missing, a lock that ignores the start time, its age, its owner or
// a live holder) each made the matching case fail.
//
// Time: about 150 namespace runs. Each costs ~1-2 s of CPU, almost all of it
// the payload's own process spawning; stale processes get a 1 s stop grace
// (StopGrace) instead of the default 5 + 5 s. On two idle cores the package
// takes about two and a half minutes; on a machine shared with other test
// runs it can exceed go test's default 10m timeout (pass -timeout; make test
// uses 75m).
//
// Where SPEC and issue 2 differ, the issue is newer and wins (SPEC header):
// case 06 expects a refusal for a proxy-env directory (issue 2) although
// SPEC §5.3 lists a directory among the "untrusted" shapes; render.go's
// package doc records the same decision.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
	"github.com/nemoclaw/nemoclaw-go/templates"
)

// nsCtx is one variant of a case: shell and runner.
type nsCtx struct {
	shell  string // /bin/dash or /bin/bash
	asRoot bool
	uid    int // the runner's uid
	// gwUID is who an OpenClaw gateway must run as: `gateway` when the
	// runner is root and gosu and the gateway user exist (SPEC §5.2 step
	// 10), else the runner.
	gwUID int
}

// nsCase is one row of the table: why it exists is its comment.
type nsCase struct {
	name  string
	users []string // "root", "nonroot"
	build func(c nsCtx) (nsSpec, []templates.Params)
	check func(t nsT, c nsCtx, r *nsResult)
}

// Runners. Every case runs under dash and bash. Cases where the runner's
// identity changes what is checked (ownership of staged copies, logs, locks,
// processes; sticky /tmp) run as both; the others run as one runner, to keep
// the package's namespace runs to a few minutes on two cores.
var (
	nsBothUsers = []string{"root", "nonroot"}
	nsRoot      = []string{"root"}
	nsNonroot   = []string{"nonroot"}
)

// nsTimings keep a run short; they are hang protection, not assertions.
func nsOpenClaw(check bool) templates.Params {
	return templates.Params{
		Agent:     templates.OpenClaw(18789),
		Mode:      templates.ModeGateway,
		Check:     check,
		Port:      18789,
		Deadline:  90 * time.Second,
		Readiness: 30 * time.Second,
		Settle:    300 * time.Millisecond,
		// Issue 9 item 9: a stale process gets 1 s after TERM and 1 s
		// after KILL here, not the default 5 + 5 s.
		StopGrace: time.Second,
	}
}

// nsHealthyHermes is a fixture: the staged guards and a healthy Hermes
// gateway started by the "entrypoint" as uid.
func nsHealthyHermes(uid int) string {
	return fmt.Sprintf(`stage_trusted
install -m 0644 -o %[1]d -g %[1]d /dev/null "$GLOG"
start_gateway %[1]d env HERMES_HOME=/sandbox/.hermes hermes gateway run
wait_http http://localhost:8642/health`, uid)
}

func nsHermes() templates.Params {
	p := nsOpenClaw(false)
	p.Agent = templates.Hermes()
	return p
}

// nsOne is the common shape: one OpenClaw payload after a fixture.
func nsOne(fixture string) func(nsCtx) (nsSpec, []templates.Params) {
	return func(nsCtx) (nsSpec, []templates.Params) {
		return nsSpec{fixture: fixture}, []templates.Params{nsOpenClaw(false)}
	}
}

// nsHostileEnv is a proxy-env an attacker (the sandbox user) wrote: shell
// code in values, a bare command, a variable outside the allow-list and a
// NODE_OPTIONS pointing at attacker code. Only the two clean proxy
// assignments may survive (SPEC §5.3, §10 item 3).
const nsHostileEnv = `cat >/tmp/nstest-attacker.js <<'JS'
(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('attacker:proxy-env');
JS
chown 1001:1001 /tmp/nstest-attacker.js
cat >/tmp/nstest-hostile-env <<'ENV'
export HTTPS_PROXY='http://10.200.0.1:3128'
export NO_PROXY='localhost,127.0.0.1,::1'
export HTTP_PROXY="$(touch /tmp/nstest-pwned-cmdsubst)"
export http_proxy=` + "`touch /tmp/nstest-pwned-backtick`" + `
touch /tmp/nstest-pwned-bare
export NSTEST_EVIL='not-allow-listed'
export NODE_OPTIONS='--require /tmp/nstest-attacker.js'
export OPENCLAW_GATEWAY_URL=ws://127.0.0.1:18789
export OPENCLAW_OAUTH_DIR=/sandbox/.openclaw/oauth
export JITI_FS_CACHE='/tmp/jiti-cache'
export GIT_SSL_CAINFO="/etc/ssl/certs/ca-certificates.crt"
export HERMES_TUI_DIR=/opt/hermes/ui-tui
export NO_PROXY=localhost\ evil
export ALL_PROXY=http://x;touch\ /tmp/nstest-pwned-semicolon
ENV
`

// nsHostileKept is what the allow-list keeps from nsHostileEnv: the quoted
// clean values and the `printf %q`-style unquoted ones of safe characters
// only (issue 9 item 7).
var nsHostileKept = map[string]string{
	"HTTPS_PROXY":          "http://10.200.0.1:3128",
	"OPENCLAW_GATEWAY_URL": "ws://127.0.0.1:18789",
	"OPENCLAW_OAUTH_DIR":   "/sandbox/.openclaw/oauth",
	"JITI_FS_CACHE":        "/tmp/jiti-cache",
	"GIT_SSL_CAINFO":       "/etc/ssl/certs/ca-certificates.crt",
	"HERMES_TUI_DIR":       "/opt/hermes/ui-tui",
}

// nsTrustedEnv writes a root-owned 0444 proxy-env, as a root entrypoint
// does, with NODE_OPTIONS set to opts, plus the extra preload it names.
func nsTrustedEnv(opts string) string {
	return `printf '%s\n' "(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('http-proxy-fix');" | put /tmp/nemoclaw-http-proxy-fix.js 0 0444
put "$PENV" 0 0444 <<'ENV'
# written by the nstest entrypoint
export HTTP_PROXY='http://10.200.0.1:3128'
export HTTPS_PROXY='http://10.200.0.1:3128'
export NO_PROXY='localhost,127.0.0.1,::1'
export NSTEST_TRUSTED_MARK='kept-verbatim'
export NODE_OPTIONS="` + opts + `"
ENV
`
}

const nsAllThree = "--require /tmp/nemoclaw-http-proxy-fix.js --require /tmp/nemoclaw-sandbox-safety-net.js --require /tmp/nemoclaw-ciao-network-guard.js"

// nsCases is the table of issue 2's cases; the comment on each row says why
// it exists. Rows share a number when they are variants of one issue case.
var nsCases = []nsCase{
	// 01: the pod-recreate baseline: /tmp empty. The payload must stage both
	// guards from the trusted sources, generate the recovered env, warn with
	// the text operators grep for, and launch a guarded gateway.
	{name: "01-fresh-tmp", users: nsBothUsers, build: nsOne(""), check: nsCheckFreshRecovery},
	// 01 again, pushed on stdin (`sh -s`) as the host does over SSH: the
	// script must not read its own rest as input anywhere.
	{name: "01-fresh-tmp-stdin", users: nsNonroot,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{viaStdin: true}, []templates.Params{nsOpenClaw(false)}
		}, check: nsCheckFreshRecovery},
	// 01 with an inference route (SPEC §5.2 step 11): a 200 from
	// https://inference.local/v1/models is ok ...
	{name: "01-fresh-tmp-inference-ok", users: nsRoot,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{inference: "200"}, []templates.Params{nsOpenClaw(false)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsCheckFreshRecovery(t, c, r)
			if res := r.runs[0].result(); res != nil && res.f["inference"] != "ok" {
				t.Errorf("result inference=%q with a route answering 200, want ok", res.f["inference"])
			}
		}},
	// ... and a 5xx is broken, with the start of the body in the step's
	// detail, while the gateway recovery itself still succeeds.
	{name: "01-fresh-tmp-inference-503", users: nsRoot,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{inference: "503"}, []templates.Params{nsOpenClaw(false)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsCheckFreshRecovery(t, c, r)
			if res := r.runs[0].result(); res != nil && res.f["inference"] != "broken" {
				t.Errorf("result inference=%q with a route answering 503, want broken", res.f["inference"])
			}
			found := false
			for _, e := range r.runs[0].events {
				if e.kind == "step" && e.f["step"] == "inference" && strings.Contains(e.f["detail"], "nstest upstream unavailable 503") {
					found = true
				}
			}
			if !found {
				t.Errorf("the inference step's detail lacks the start of the 503 body")
			}
		}},
	// 02: /tmp wiped under a running gateway (the CI wipe): guards repaired,
	// `already-running`, and the healthy gateway is not touched or relaunched.
	{name: "02-wiped-tmp-gateway-healthy", users: nsBothUsers,
		build: func(c nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{fixture: fmt.Sprintf(`stage_trusted
install -m 0644 -o %[1]d -g %[1]d /dev/null "$GLOG"
start_gateway %[1]d openclaw gateway run --port 18789
wait_http http://127.0.0.1:18789/health
find /tmp -mindepth 1 -delete`, c.gwUID)}, []templates.Params{nsOpenClaw(false)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeAlreadyRunning)
			nsWantNoLaunch(t, r)
			if len(r.fixtureStarts) != 1 {
				t.Errorf("fixture gateway starts = %d, want 1", len(r.fixtureStarts))
				return
			}
			old := r.fixtureStarts[0].Pid
			if !nsProcAlive(r, old) {
				t.Errorf("the healthy gateway (pid %d) is gone; ps:\n%s", old, r.ps)
			}
			if pid := r.runs[0].result().f["gateway_pid"]; pid != "" && pid != strconv.Itoa(old) {
				t.Errorf("gateway_pid = %q, want the running gateway %d (or empty)", pid, old)
			}
			nsWantTrustedStaged(t, r, c.uid)
			nsWantRecoveredEnv(t, r, c.uid)
			nsWantRecreatedProxyEnv(t, r, c.uid)
			nsLogHas(t, r, nsGatewayLog, nsMissingWarning)
		}},
	// 03: a trusted (root 0444) complete proxy-env after a gateway crash:
	// its bytes untouched, its content carried verbatim into the recovered
	// env (other preloads kept), no token added twice, no warning.
	{name: "03-trusted-complete-proxy-env", users: nsBothUsers,
		build: nsOne("stage_trusted\n" + nsTrustedEnv(nsAllThree)),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			s := nsWantRecovered(t, c, r, nsGatewayLog)
			nsWantTrustedEnvKept(t, r, nsAllThree)
			nsWantRequires(t, s, map[string]int{"/tmp/nemoclaw-http-proxy-fix.js": 1})
			nsWantPreload(t, s, "http-proxy-fix")
			nsLogLacks(t, r, nsGatewayLog, "missing or unsafe")
			nsLogLacks(t, r, nsGatewayLog, nsIncompleteText)
			nsWantUnchanged(t, r, nsProxyEnv)
		}},
	// 04: trusted but missing the ciao guard: the "incomplete" warning, the
	// content kept, ciao added exactly once.
	{name: "04-trusted-proxy-env-missing-ciao", users: nsRoot,
		build: nsOne("stage_trusted\n" + nsTrustedEnv("--require /tmp/nemoclaw-http-proxy-fix.js --require /tmp/nemoclaw-sandbox-safety-net.js")),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			s := nsWantRecovered(t, c, r, nsGatewayLog)
			nsWantTrustedEnvKept(t, r, "--require /tmp/nemoclaw-http-proxy-fix.js --require /tmp/nemoclaw-sandbox-safety-net.js")
			nsWantRequires(t, s, map[string]int{"/tmp/nemoclaw-http-proxy-fix.js": 1})
			nsLogHasLine(t, r, nsGatewayLog, "[gateway-recovery] WARNING:", nsIncompleteText)
			nsLogLacks(t, r, nsGatewayLog, "missing or unsafe")
			nsWantUnchanged(t, r, nsProxyEnv)
		}},
	// 05: untrusted proxy-env shapes carrying shell code: never sourced or
	// executed (no marker file), only allow-listed clean values kept, the
	// drop logged, and the file itself left alone.
	{name: "05-untrusted-proxy-env-mode-0666", users: nsRoot,
		build: nsOne(nsHostileEnv + `put "$PENV" 0 0666 </tmp/nstest-hostile-env`),
		check: nsCheckHostileEnv("file", 0o666, 0, true)},
	{name: "05-untrusted-proxy-env-sandbox-owned", users: nsBothUsers,
		build: nsOne(nsHostileEnv + `put "$PENV" 1001 0444 </tmp/nstest-hostile-env`),
		check: nsCheckHostileEnv("file", 0o444, nsSandboxUID, true)},
	// The symlink points at a root 0444 file: what a trusted file looks
	// like, reached through a link the sandbox user planted.
	{name: "05-untrusted-proxy-env-symlink", users: nsRoot,
		build: nsOne(nsHostileEnv + `put /tmp/nstest-env-target 0 0444 </tmp/nstest-hostile-env
ln -s /tmp/nstest-env-target "$PENV"
chown -h 1001:1001 "$PENV"`),
		check: nsCheckHostileEnv("symlink", 0, nsSandboxUID, false)},
	// 06: a directory where the proxy-env should be: refusal (issue 2), with
	// the reason in the log, nothing launched, the directory left alone.
	{name: "06-proxy-env-directory", users: nsRoot,
		build: nsOne(`mkdir -m 0755 "$PENV"`),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeRefused)
			nsWantNoLaunch(t, r)
			if f := r.file(nsProxyEnv); f.kind != "dir" {
				t.Errorf("%s is now %s, want the directory left alone", nsProxyEnv, f)
			}
			nsLogHasLineFold(t, r, nsGatewayLog, "[gateway-recovery]", "nemoclaw-proxy-env.sh", "refus")
		}},
	// 07: the trusted source itself is untrustworthy: refusal with the
	// specific message, the refusal invariant's ERROR line, nothing launched,
	// and nothing attacker-controlled staged.
	{name: "07-source-missing", users: nsBothUsers,
		build: nsOne(`rm -f "$PRE/sandbox-safety-net.js"`),
		check: nsCheckSourceRefusal("trusted preload source " + nsSafetyNetSrc + " unavailable - refusing preload install")},
	{name: "07-source-symlink", users: nsRoot,
		build: nsOne(`printf '%s\n' "(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('attacker:source');" | put /usr/local/lib/nemoclaw/attacker.js 0 0644
rm -f "$PRE/sandbox-safety-net.js"
ln -s /usr/local/lib/nemoclaw/attacker.js "$PRE/sandbox-safety-net.js"`),
		check: nsCheckSourceRefusal("")},
	{name: "07-source-group-writable", users: nsNonroot,
		build: nsOne(`chmod 0664 "$PRE/sandbox-safety-net.js"`),
		check: nsCheckSourceRefusal("")},
	// Ownership rules apply as root only (SPEC §5.3).
	{name: "07-source-not-root-owned", users: nsRoot,
		build: nsOne(`chown 1001:1001 "$PRE/sandbox-safety-net.js"`),
		check: nsCheckSourceRefusal("")},
	{name: "07-source-parent-dir-not-root-owned", users: nsRoot,
		build: nsOne(`chown 1001:1001 "$PRE"`),
		check: nsCheckSourceRefusal("")},
	{name: "07-source-sha256sums-mismatch", users: nsBothUsers,
		build: nsOne(`(cd "$PRE" && { echo "0000000000000000000000000000000000000000000000000000000000000000  sandbox-safety-net.js"; sha256sum ciao-network-guard.js; } >SHA256SUMS)`),
		check: nsCheckSourceRefusal("")},
	// The control for the row above: a matching SHA256SUMS must not refuse,
	// so the mismatch row fails for the right reason.
	{name: "07-source-sha256sums-match", users: nsRoot,
		build: nsOne(`(cd "$PRE" && sha256sum sandbox-safety-net.js ciao-network-guard.js >SHA256SUMS)`),
		check: nsCheckFreshRecovery},
	// 08: the staged path is a symlink (owned by the sandbox user) to
	// attacker code: the rename replaces the link; the target is untouched.
	{name: "08-staged-copy-symlink", users: nsBothUsers,
		build: nsOne(`printf '%s\n' "(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('attacker:staged');" | put /tmp/nstest-attacker.js 1001 0644
ln -s /tmp/nstest-attacker.js "$SN"
chown -h 1001:1001 "$SN"`),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantRecovered(t, c, r, nsGatewayLog)
			nsWantFile(t, r, "/tmp/nstest-attacker.js", "file", 0o644, nsSandboxUID,
				"(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('attacker:staged');\n")
		}},
	// 09: a tampered 0444 staged copy the runner owns: replaced (SPEC §10
	// item 1: the content check, not mode and owner, decides).
	{name: "09-staged-copy-tampered-runner-owned", users: nsBothUsers,
		build: func(c nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{fixture: fmt.Sprintf(`printf '%%s\n' "(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('attacker:tampered');" | put "$SN" %d 0444`, c.uid)},
				[]templates.Params{nsOpenClaw(false)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantRecovered(t, c, r, nsGatewayLog)
		}},
	// 10: a tampered 0444 copy owned by another uid: a non-root runner
	// cannot replace it in sticky /tmp, so it must refuse and say why.
	{name: "10-staged-copy-tampered-foreign-owned", users: nsNonroot,
		build: nsOne(`printf '%s\n' "(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('attacker:foreign');" | put "$SN" 1002 0444`),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeRefused)
			nsWantNoLaunch(t, r)
			nsWantFile(t, r, nsSafetyNetTmp, "file", 0o444, nsGatewayUID,
				"(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('attacker:foreign');\n")
			nsLogHas(t, r, nsGatewayLog, nsRefusalLine)
			nsLogHasLineFold(t, r, nsGatewayLog, "[gateway-recovery]", nsSafetyNetTmp, "")
			nsWantStderrHas(t, r, 0, nsRefusalLine)
		}},
	// The control for the row above: the same foreign 0444 copy with the
	// trusted bytes is accepted, so the refusal is about content.
	{name: "10-staged-copy-intact-foreign-owned", users: nsNonroot,
		build: nsOne(`install -m 0444 -o 1002 -g 1002 "$PRE/sandbox-safety-net.js" "$SN"`),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeRecovered)
			if s, ok := nsWantOneLaunch(t, r, "openclaw-gateway"); ok {
				nsWantGuarded(t, r, s, c.gwUID, nsGatewayLog)
			}
			nsWantFile(t, r, nsSafetyNetTmp, "file", 0o444, nsGatewayUID, string(r.trusted[nsSafetyNetTmp]))
		}},
	// As root the same foreign tampered copy is simply replaced.
	{name: "10-staged-copy-tampered-foreign-owned-root-replaces", users: nsRoot,
		build: nsOne(`printf '%s\n' "(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('attacker:foreign');" | put "$SN" 1002 0444`),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantRecovered(t, c, r, nsGatewayLog)
		}},
	// 11: NODE_OPTIONS token logic on the whole script. Impostor paths that
	// merely contain a guard's path do not count: the real tokens are added.
	{name: "11-node-options-impostors", users: nsRoot,
		build: nsOne(`printf '%s\n' "(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('impostor');" | put /tmp/not-nemoclaw-sandbox-safety-net.js 0 0444
cp -p /tmp/not-nemoclaw-sandbox-safety-net.js /tmp/nemoclaw-ciao-network-guard.js.bak
stage_trusted
` + nsTrustedEnv("--require /tmp/not-nemoclaw-sandbox-safety-net.js --require=/tmp/nemoclaw-ciao-network-guard.js.bak")),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			s := nsWantRecovered(t, c, r, nsGatewayLog)
			nsWantRequires(t, s, map[string]int{
				"/tmp/not-nemoclaw-sandbox-safety-net.js": 1,
				"/tmp/nemoclaw-ciao-network-guard.js.bak": 1,
			})
			nsLogHasLine(t, r, nsGatewayLog, "[gateway-recovery] WARNING:", nsIncompleteText)
		}},
	// Guards already required in the other two spellings: nothing added.
	{name: "11-node-options-equals-and-r-forms", users: nsNonroot,
		build: nsOne("stage_trusted\n" + nsTrustedEnv("--require=/tmp/nemoclaw-sandbox-safety-net.js -r /tmp/nemoclaw-ciao-network-guard.js")),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			s := nsWantRecovered(t, c, r, nsGatewayLog)
			want := "--require=/tmp/nemoclaw-sandbox-safety-net.js -r /tmp/nemoclaw-ciao-network-guard.js"
			if got := s.Env["NODE_OPTIONS"]; got != want {
				t.Errorf("gateway NODE_OPTIONS = %q, want it exactly as the trusted env set it: %q", got, want)
			}
			nsLogLacks(t, r, nsGatewayLog, nsIncompleteText)
		}},
	// A glob in NODE_OPTIONS that would match the staged guard if expanded
	// (`.j[s]` matches `.js`, and a file literally named `.j[s]` exists for
	// node to load): a splitting that globbed would think the guards are
	// required and add nothing.
	{name: "11-node-options-glob-not-expanded", users: nsRoot,
		build: nsOne(`printf '%s\n' "(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('glob-literal');" | put '/tmp/nemoclaw-sandbox-safety-net.j[s]' 0 0444
cp -p '/tmp/nemoclaw-sandbox-safety-net.j[s]' '/tmp/nemoclaw-ciao-network-guard.j[s]'
stage_trusted
` + nsTrustedEnv("--require /tmp/nemoclaw-sandbox-safety-net.j[s] -r /tmp/nemoclaw-ciao-network-guard.j[s]")),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			s := nsWantRecovered(t, c, r, nsGatewayLog)
			nsWantRequires(t, s, map[string]int{
				"/tmp/nemoclaw-sandbox-safety-net.j[s]": 1,
				"/tmp/nemoclaw-ciao-network-guard.j[s]": 1,
			})
			nsWantPreload(t, s, "glob-literal")
		}},
	// 12: hostile gateway logs. Never followed, never blocked on, never
	// truncated; the fallback log is used, and its earlier content kept.
	{name: "12-log-symlink", users: nsBothUsers,
		build: nsLogFixture(`echo victim-bytes | put /tmp/nstest-victim 0 0644
ln -s /tmp/nstest-victim "$GLOG"
chown -h 1001:1001 "$GLOG"`),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsCheckFallbackLog(t, c, r)
			if f := r.file(nsGatewayLog); f.kind != "symlink" || f.target != "/tmp/nstest-victim" {
				t.Errorf("%s is now %s, want the planted symlink left alone", nsGatewayLog, f)
			}
			nsWantFile(t, r, "/tmp/nstest-victim", "file", 0o644, 0, "victim-bytes\n")
		}},
	{name: "12-log-fifo", users: nsNonroot,
		build: nsLogFixture(`mkfifo -m 0666 "$GLOG"`),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsCheckFallbackLog(t, c, r)
			if f := r.file(nsGatewayLog); f.kind != "fifo" {
				t.Errorf("%s is now %s, want the FIFO left alone", nsGatewayLog, f)
			}
		}},
	// Unwritable: a read-only bind as root (root can write anything else),
	// another user's 0644 file as the sandbox user.
	{name: "12-log-unwritable", users: nsBothUsers,
		build: func(c nsCtx) (nsSpec, []templates.Params) {
			fx := `echo previous-gateway-output | put "$GLOG" 1002 0644`
			if c.asRoot {
				fx = `echo previous-gateway-output | put "$GLOG" 0 0644
mount --bind "$GLOG" "$GLOG"
mount -o remount,bind,ro "$GLOG"`
			}
			return nsLogFixture(fx)(c)
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsCheckFallbackLog(t, c, r)
			if got := r.text(nsGatewayLog); got != "previous-gateway-output\n" {
				t.Errorf("%s content = %q, want it untouched", nsGatewayLog, got)
			}
		}},
	// Two runs over a regular log with earlier content: both append, the
	// old content stays first, and both run ids are in it.
	{name: "12-log-content-kept-across-runs", users: nsBothUsers,
		build: func(c nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{fixture: fmt.Sprintf(`echo previous-gateway-output | put "$GLOG" %d 0644`, c.gwUID)},
				[]templates.Params{nsOpenClaw(false), nsOpenClaw(false)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeRecovered)
			nsWantOutcome(t, r, 1, templates.OutcomeAlreadyRunning)
			log := r.text(nsGatewayLog)
			if !strings.HasPrefix(log, "previous-gateway-output\n") {
				t.Errorf("%s lost its earlier content; starts %q", nsGatewayLog, nsHead(log))
			}
			for i, id := range r.runIDs {
				if !strings.Contains(log, id) {
					t.Errorf("%s has no run header for run %d (%s)", nsGatewayLog, i, id)
				}
			}
			if len(r.starts) != 1 {
				t.Errorf("gateway starts = %d, want 1 (the second run finds it healthy)", len(r.starts))
			}
		}},
	// 13: a stale gateway that survives TERM and KILL (the namespace's PID 1,
	// which no signal from inside can stop; to the sandbox user it is also
	// another user's process): `stale-processes`, nothing launched.
	{name: "13-stale-gateway-survives", users: nsBothUsers,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{fixture: "stage_trusted", staleInit: true}, []templates.Params{nsOpenClaw(false)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeStaleProcesses)
			nsWantNoLaunch(t, r)
			// The render input, not a fixed 5 s, decides the wait.
			nsLogHasLine(t, r, nsGatewayLog, "[gateway-recovery]", "still running 1000ms after SIGTERM")
		}},
	// 14: no gateway binary anywhere on PATH: `agent-missing`.
	{name: "14-binary-missing", users: nsNonroot,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{noBinaries: true}, []templates.Params{nsOpenClaw(false)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeAgentMissing)
			nsWantNoLaunch(t, r)
		}},
	// 15: the gateway answers health once, then dies inside the settle
	// window (SPEC §7.3): `gateway-failed`, with its last log lines in the
	// diagnostics, never "recovered".
	{name: "15-gateway-dies-during-settle", users: nsBothUsers,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			p := nsOpenClaw(false)
			p.Settle = 2 * time.Second
			return nsSpec{gw: map[string]any{"dieAfterFirstHealthMs": 150, "dieMessage": "nstest settle-death 4242"}},
				[]templates.Params{p}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeGatewayFailed)
			if len(r.starts) != 1 {
				t.Errorf("gateway starts = %d, want 1", len(r.starts))
			}
			nsLogHas(t, r, nsGatewayLog, "nstest settle-death 4242")
			d := nsDiag(r, 0)
			if d == nil || !strings.Contains(d.f["log_tail"], "nstest settle-death 4242") {
				t.Errorf("diag log_tail lacks the gateway's last words; diag = %v", d)
			}
		}},
	// 16: OpenClaw as root with gosu and a gateway user runs as `gateway`
	// (uid 1002) ...
	{name: "16-root-gosu-gateway-user", users: nsRoot,
		build: nsOne(""),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			s := nsWantRecovered(t, c, r, nsGatewayLog)
			if s.UID != nsGatewayUID || s.GID != nsGatewayUID {
				t.Errorf("gateway uid/gid = %d/%d, want gateway %d", s.UID, s.GID, nsGatewayUID)
			}
		}},
	// ... and without a gateway user it runs as the runner (root).
	{name: "16-root-no-gateway-user", users: nsRoot,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{noGatewayUser: true}, []templates.Params{nsOpenClaw(false)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			c.gwUID = 0
			s := nsWantRecovered(t, c, r, nsGatewayLog)
			if s.UID != 0 {
				t.Errorf("gateway uid = %d, want 0", s.UID)
			}
		}},
	// 17: Hermes secret boundary, against a validator with the image's real
	// interface (testdata/ns/validator.py: `env-file PATH`, `runtime-env`,
	// exit 2 on anything else). A healthy gateway with a clean .env is left
	// alone: already-running, the same pid, and the runtime-env check never
	// runs (it belongs to the relaunch path).
	{name: "17-hermes-healthy-clean-env", users: nsBothUsers,
		build: func(c nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{validator: true, fixture: nsHealthyHermes(c.uid)}, []templates.Params{nsHermes()}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeAlreadyRunning)
			nsWantNoLaunch(t, r)
			nsWantFixtureRunningAsResult(t, r)
			nsWantValidatorCalled(t, r, "env-file /sandbox/.hermes/.env")
			nsWantValidatorNotCalled(t, r, "runtime-env")
		}},
	// A violating .env refuses even though the gateway is healthy, stops the
	// gateway and the dashboard (they loaded that .env), logs the offending
	// key and its line (the validator's stderr), and no secret byte reaches
	// any output.
	{name: "17-hermes-env-file-violation", users: nsBothUsers,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			p := nsHermes()
			p.HermesDashboard = templates.HermesDashboard{Enabled: true, Port: 18789, InternalPort: 19789}
			return nsSpec{validator: true, hermesEnv: "# model keys\nOPENAI_API_KEY=" + nsSecret + "\n", fixture: `stage_trusted
install -m 0644 -o 1001 -g 1001 /dev/null "$GLOG"
start_gateway 1001 env HERMES_HOME=/sandbox/.hermes hermes gateway run
start_gateway 1001 env HERMES_HOME=/sandbox/.hermes hermes dashboard --host 127.0.0.1 --port 19789 --skip-build --no-open
wait_http http://localhost:8642/health
wait_http http://127.0.0.1:19789/`}, []templates.Params{p}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeSecretBoundaryRefused)
			nsWantNoLaunch(t, r)
			if len(r.fixtureStarts) != 2 {
				t.Errorf("fixture started %d hermes processes, want 2", len(r.fixtureStarts))
			}
			for _, s := range r.fixtureStarts {
				if nsProcAlive(r, s.Pid) {
					t.Errorf("%s (pid %d) still running after a secret-boundary refusal", s.Role, s.Pid)
				}
			}
			nsWantNoSecret(t, r)
			nsWantValidatorCalled(t, r, "env-file /sandbox/.hermes/.env")
			nsWantValidatorNotCalled(t, r, "runtime-env")
			nsLogHasLine(t, r, nsGatewayLog, "[gateway-recovery]", "OPENAI_API_KEY (line 2)")
		}},
	// The runtime-env check runs on the relaunch path, after the generated
	// env is sourced: a raw secret in the session's own environment refuses
	// the launch (key logged, value nowhere).
	{name: "17-hermes-runtime-env-violation-gateway-down", users: nsBothUsers,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{validator: true, env: []string{"NSTEST_API_KEY=" + nsSecret}}, []templates.Params{nsHermes()}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeSecretBoundaryRefused)
			nsWantNoLaunch(t, r)
			nsWantNoSecret(t, r)
			nsWantValidatorCalled(t, r, "env-file /sandbox/.hermes/.env")
			nsWantValidatorCalled(t, r, "runtime-env")
			nsLogHasLine(t, r, nsGatewayLog, "[gateway-recovery]", "NSTEST_API_KEY")
			// The generated env was sourced before the check.
			nsLogHasLine(t, r, nsGatewayLog, "[gateway-recovery] sourced "+nsRecoveredEnv)
		}},
	// ... but a healthy gateway is never stopped, or even checked, because of
	// the SSH session's own environment: already-running, the same pid.
	{name: "17-hermes-runtime-env-violation-gateway-healthy", users: nsNonroot,
		build: func(c nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{validator: true, env: []string{"NSTEST_API_KEY=" + nsSecret}, fixture: nsHealthyHermes(c.uid)},
				[]templates.Params{nsHermes()}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeAlreadyRunning)
			nsWantNoLaunch(t, r)
			nsWantFixtureRunningAsResult(t, r)
			nsWantValidatorNotCalled(t, r, "runtime-env")
			nsWantNoSecret(t, r)
		}},
	// No validator in the image: NemoClaw's warning, then a normal Hermes
	// recovery with HERMES_HOME set and no --port (SPEC §3.2).
	{name: "17-hermes-validator-absent", users: nsRoot,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{}, []templates.Params{nsHermes()}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsCheckHermesRecovered(t, c, r)
			nsLogHas(t, r, nsGatewayLog, "[gateway-recovery] WARNING: secret-boundary validator script /usr/local/lib/nemoclaw/validate-hermes-env-secret-boundary.py missing on this sandbox image; skipping recovery boundary check.")
		}},
	// A clean validator: both checks run, each once, then the same recovery.
	{name: "17-hermes-validator-clean", users: nsNonroot,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{validator: true}, []templates.Params{nsHermes()}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsCheckHermesRecovered(t, c, r)
			if len(r.validatorCalls) != 2 {
				t.Errorf("validator calls %q, want env-file then runtime-env, once each", r.validatorCalls)
			}
			nsWantValidatorCalled(t, r, "env-file /sandbox/.hermes/.env")
			nsWantValidatorCalled(t, r, "runtime-env")
		}},
	// The dashboard-only variant (SPEC §5.2, Hermes web dashboard): the
	// gateway is healthy, the dashboard is not; only the dashboard is
	// launched, exactly as `hermes dashboard --host 127.0.0.1 --port
	// <internal> --skip-build --no-open`, under the same guard rules.
	// (dashboard_namespace_test.go runs the dashboard variants more
	// widely; this row adds that the healthy gateway is left alone.)
	{name: "17-hermes-dashboard-only", users: nsNonroot,
		build: func(c nsCtx) (nsSpec, []templates.Params) {
			p := nsHermes()
			p.Mode = templates.ModeHermesDashboard
			p.HermesDashboard = templates.HermesDashboard{Enabled: true, Port: 18789, InternalPort: 19789}
			return nsSpec{validator: true, fixture: fmt.Sprintf(`stage_trusted
install -m 0644 -o %[1]d -g %[1]d /dev/null "$GLOG"
start_gateway %[1]d env HERMES_HOME=/sandbox/.hermes hermes gateway run
wait_http http://localhost:8642/health`, c.uid)}, []templates.Params{p}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			o := r.runs[0].outcome()
			if o != templates.OutcomeRecovered && o != templates.OutcomeAlreadyRunning {
				t.Errorf("outcome %q, want recovered (or already-running for the gateway)", o)
			}
			if r.runs[0].rc != 0 {
				t.Errorf("exit status %d, want 0", r.runs[0].rc)
			}
			s, ok := nsWantOneLaunch(t, r, "hermes-dashboard")
			if !ok {
				return
			}
			want := "dashboard --host 127.0.0.1 --port 19789 --skip-build --no-open"
			if got := strings.Join(s.Args, " "); got != want {
				t.Errorf("dashboard argv = %q, want %q", got, want)
			}
			if s.Env["HERMES_HOME"] != "/sandbox/.hermes" {
				t.Errorf("dashboard HERMES_HOME = %q", s.Env["HERMES_HOME"])
			}
			req := nsRequireTokens(s.Env["NODE_OPTIONS"])
			if req[nsSafetyNetTmp] != 1 || req[nsCiaoTmp] != 1 {
				t.Errorf("dashboard NODE_OPTIONS %q lacks the guard tokens (exactly once each)", s.Env["NODE_OPTIONS"])
			}
			nsWantPreload(t, s, "safety-net:trusted")
			nsWantPreload(t, s, "ciao:trusted")
			if len(r.fixtureStarts) == 1 && !nsProcAlive(r, r.fixtureStarts[0].Pid) {
				t.Errorf("the healthy Hermes gateway was stopped by a dashboard-only recovery")
			}
		}},
	// 18: the sandbox user facing a root entrypoint's proxy-env recovers
	// (SPEC §10 item 2; NemoClaw refuses here) and writes its own env.
	{name: "18-nonroot-root-owned-proxy-env", users: nsNonroot,
		build: nsOne(nsTrustedEnv(nsAllThree)),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantRecovered(t, c, r, nsGatewayLog)
			nsWantTrustedEnvKept(t, r, nsAllThree)
		}},
	// ... even when an earlier root recovery left a root-owned recovered env
	// it cannot replace (SPEC §5.3: fall back to a per-run file).
	{name: "18-nonroot-root-owned-recovered-env", users: nsNonroot,
		build: nsOne(nsTrustedEnv(nsAllThree) + `put "$RENV" 0 0444 <<'ENV'
# left by an earlier root recovery
export NSTEST_STALE_RECOVERED='yes'
ENV`),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			s := nsGatewayStart(t, r)
			nsWantOutcome(t, r, 0, templates.OutcomeRecovered)
			if s == nil {
				return
			}
			nsWantGuarded(t, r, *s, c.gwUID, nsGatewayLog)
			nsWantTrustedStaged(t, r, c.uid)
			nsWantFile(t, r, nsRecoveredEnv, "file", 0o444, 0,
				"# left by an earlier root recovery\nexport NSTEST_STALE_RECOVERED='yes'\n")
			if s.Env["NSTEST_TRUSTED_MARK"] != "kept-verbatim" {
				t.Errorf("gateway env lacks the trusted proxy-env's content (NSTEST_TRUSTED_MARK=%q)", s.Env["NSTEST_TRUSTED_MARK"])
			}
			if _, ok := s.Env["NSTEST_STALE_RECOVERED"]; ok {
				t.Errorf("gateway env carries the stale root-owned recovered env")
			}
		}},
	// 19: check mode over case 01's /tmp: would-change steps,
	// `would-recover`, and not one byte, mode or owner changed in /tmp,
	// nothing launched.
	{name: "19-check-mode-fresh-tmp", users: nsBothUsers,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{fixture: `echo previous-gateway-output | put "$GLOG" 1001 0644`}, []templates.Params{nsOpenClaw(true)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeWouldRecover)
			nsCheckNothingChanged(t, r)
			if !nsHasStepStatus(r, 0, templates.StatusWouldChange) {
				t.Errorf("no step reported would-change")
			}
		}},
	// Check mode where a recovery would refuse: `would-refuse`, exit 1,
	// still nothing changed.
	{name: "19-check-mode-would-refuse", users: nsRoot,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{fixture: `rm -f "$PRE/sandbox-safety-net.js"`}, []templates.Params{nsOpenClaw(true)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeWouldRefuse)
			nsCheckNothingChanged(t, r)
		}},
	// 20: two payloads at once (the second starts while the first holds
	// the lock, waiting for a slow gateway): one relaunch, the other
	// `in-progress` with exit 75.
	{name: "20-two-payloads-at-once", users: nsBothUsers,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{concurrent: true, gw: map[string]any{"startDelayMs": 1500}},
				[]templates.Params{nsOpenClaw(false), nsOpenClaw(false)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeRecovered)
			nsWantOutcome(t, r, 1, templates.OutcomeInProgress)
			if len(r.starts) != 1 {
				t.Errorf("gateway starts = %d, want exactly 1", len(r.starts))
			}
		}},
	// A lock left by a recovery that died (its pid is not running) is taken
	// over, not honoured forever.
	{name: "20-stale-lock-dead-pid", users: nsBothUsers,
		build: nsLockFixture("31999 0 $(now_ms)", "runner"),
		check: nsCheckLockTakenOver("that pid is not running")},
	// Issue 9 item 8: a recovery killed by SIGKILL whose pid was reused by a
	// live process (its start time differs from the recorded one), with the
	// lock older than the deadline ...
	{name: "20-stale-lock-reused-pid-old", users: nsBothUsers,
		build: nsLockFixture("$(reused_pid) 12345 $(old_ms)", "runner"),
		check: nsCheckLockTakenOver("that pid is another process now")},
	// ... and with the lock just taken, so only the start time can tell.
	{name: "20-stale-lock-reused-pid-young", users: nsRoot,
		build: nsLockFixture("$(reused_pid) 12345 $(now_ms)", "runner"),
		check: nsCheckLockTakenOver("that pid is another process now")},
	// A lock a sandbox user planted naming pid 1 (alive forever, its true
	// start time recorded) older than the deadline plus the margin: stale.
	{name: "20-planted-lock-pid-1", users: nsBothUsers,
		build: nsLockFixture("1 $(start_of 1) $(old_ms)", "sandbox"),
		check: nsCheckLockTakenOver("not within the 20000ms deadline plus")},
	// A stale lock the runner cannot move (root's, in sticky /tmp, facing
	// the sandbox user): a clear failure naming the lock and its owner,
	// never in-progress, nothing launched.
	{name: "20-stale-lock-not-movable", users: nsNonroot,
		build: nsLockFixture("31999 0 $(now_ms)", "root"),
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantOutcome(t, r, 0, templates.OutcomeFailed)
			nsWantNoLaunch(t, r)
			reason := ""
			if res := r.runs[0].result(); res != nil {
				reason = res.f["reason"]
			}
			for _, want := range []string{nsLock, "owned by uid 0", "pid 31999", "that pid is not running"} {
				if !strings.Contains(reason, want) {
					t.Errorf("result reason %q lacks %q", reason, want)
				}
			}
		}},
	// 22 (issue 9 item 2): the payload runs in a login shell whose profile
	// hook sourced a planted proxy-env carrying code-loading options
	// (--require, --import, -r) next to a harmless one. None reaches the
	// relaunched gateway, by the kernel's own account of its environment;
	// each drop is logged; the harmless option is kept.
	{name: "22-login-shell-code-loading-node-options", users: nsBothUsers,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{loginShell: true, fixture: `for f in attacker.js attacker.mjs attacker2.js; do
	printf '%s\n' "(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('attacker:login-shell');" | put "/tmp/$f" 1001 0644
done
put "$PENV" 1001 0444 <<'ENV'
export NODE_OPTIONS="--require /tmp/attacker.js --max-old-space-size=256 --import /tmp/attacker.mjs -r /tmp/attacker2.js"
ENV`}, []templates.Params{nsOpenClaw(false)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			s := nsWantRecovered(t, c, r, nsGatewayLog)
			env, err := r.environ(s.Pid)
			if err != nil {
				t.Errorf("reading the gateway's /proc/%d/environ: %v", s.Pid, err)
				return
			}
			opts := env["NODE_OPTIONS"]
			for _, bad := range []string{"attacker", "--import", "-r "} {
				if strings.Contains(opts, bad) {
					t.Errorf("gateway /proc/%d/environ NODE_OPTIONS=%q contains %q", s.Pid, opts, bad)
				}
			}
			if !strings.Contains(opts, "--max-old-space-size=256") {
				t.Errorf("gateway NODE_OPTIONS=%q lost the inherited option that loads no code", opts)
			}
			req := nsRequireTokens(opts)
			if len(req) != 2 || req[nsSafetyNetTmp] != 1 || req[nsCiaoTmp] != 1 {
				t.Errorf("gateway NODE_OPTIONS=%q: want exactly the two guard requires", opts)
			}
			for _, d := range []string{"--require /tmp/attacker.js", "--import /tmp/attacker.mjs", "-r /tmp/attacker2.js"} {
				nsLogHasLine(t, r, nsGatewayLog, "[gateway-recovery] dropped inherited NODE_OPTIONS option "+d)
			}
			nsWantUnchanged(t, r, nsProxyEnv)
		}},
	// 23 (issue 9 item 4): the gateway gets the caller's umask and locale,
	// not the payload's private 077 and LC_ALL=C: files it creates have the
	// modes a normal start gives.
	{name: "23-umask-022", users: nsBothUsers,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{umask: "022"}, []templates.Params{nsOpenClaw(false)}
		},
		check: nsCheckLaunchUmask("openclaw-gateway", "0022", "")},
	{name: "23-umask-0007-and-locale", users: nsBothUsers,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{umask: "0007", env: []string{"LC_ALL=C.UTF-8"}}, []templates.Params{nsOpenClaw(false)}
		},
		check: nsCheckLaunchUmask("openclaw-gateway", "0007", "C.UTF-8")},
	// Hermes runs with its entrypoint's umask 0007 whatever the caller's.
	{name: "23-umask-hermes", users: nsNonroot,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{umask: "022"}, []templates.Params{nsHermes()}
		},
		check: nsCheckLaunchUmask("hermes-gateway", "0007", "")},
	// 24 (issue 9 item 6): process patterns are NemoClaw's. A user's
	// `hermes gateway status` is not a gateway and survives the stale stop.
	{name: "24-hermes-gateway-status-survives", users: nsNonroot,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{fixture: `stage_trusted 1001
install -m 0644 -o 1001 -g 1001 /dev/null "$GLOG"
start_gateway 1001 hermes gateway status
for _ in $(seq 1 500); do ls /run/ns/rec/start-unknown-* >/dev/null 2>&1 && break; sleep 0.02; done`}, []templates.Params{nsHermes()}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsCheckHermesRecovered(t, c, r)
			if len(r.fixtureStarts) != 1 || r.fixtureStarts[0].Role != "unknown" {
				t.Errorf("fixture starts %v, want the one `hermes gateway status`", r.fixtureStarts)
				return
			}
			if !nsProcAlive(r, r.fixtureStarts[0].Pid) {
				t.Errorf("`hermes gateway status` (pid %d) was stopped as a stale gateway", r.fixtureStarts[0].Pid)
			}
		}},
	// OpenClaw's gateway renames its process `openclaw-gateway`: a stale one
	// under that name is stopped before the relaunch.
	{name: "24-openclaw-renamed-stale-gateway-stopped", users: nsRoot,
		build: func(nsCtx) (nsSpec, []templates.Params) {
			return nsSpec{gw: map[string]any{"fixtureTitle": "openclaw-gateway", "fixtureNoListen": true},
				fixture: `stage_trusted
start_gateway 1002 openclaw gateway run --port 18789
for _ in $(seq 1 500); do pgrep -f '^openclaw-gateway' >/dev/null && break; sleep 0.02; done`}, []templates.Params{nsOpenClaw(false)}
		},
		check: func(t nsT, c nsCtx, r *nsResult) {
			t.Helper()
			nsWantRecovered(t, c, r, nsGatewayLog)
			if len(r.fixtureStarts) != 1 {
				t.Errorf("fixture starts = %d, want the renamed stale gateway", len(r.fixtureStarts))
				return
			}
			if nsProcAlive(r, r.fixtureStarts[0].Pid) {
				t.Errorf("the renamed stale gateway (pid %d) survived", r.fixtureStarts[0].Pid)
			}
			nsLogHasLine(t, r, nsGatewayLog, "[gateway-recovery] stopping stale OpenClaw gateway processes "+strconv.Itoa(r.fixtureStarts[0].Pid))
		}},
}

// nsLockFixture plants the recovery lock with a holder record (shell words
// expanded by the fixture: now_ms, old_ms (older than the 20 s deadline
// plus the margin), reused_pid (a live process that is not a recovery),
// start_of PID) owned by owner: the runner, the sandbox user or root. The
// payload's deadline is 20 s so "older than it" needs no long wait.
func nsLockFixture(holder, owner string) func(nsCtx) (nsSpec, []templates.Params) {
	return func(c nsCtx) (nsSpec, []templates.Params) {
		uid := map[string]int{"runner": c.uid, "sandbox": nsSandboxUID, "root": 0}[owner]
		p := nsOpenClaw(false)
		p.Deadline = 20 * time.Second
		p.Readiness = 15 * time.Second
		return nsSpec{fixture: fmt.Sprintf(`now_ms() { local up; read -r up _ </proc/uptime; echo $(( ${up%%.*} * 1000 )); }
old_ms() { local n; n=$(( $(now_ms) - 60000 )); [ "$n" -gt 0 ] || n=0; echo "$n"; }
start_of() { local s; read -r s <"/proc/$1/stat"; set -- ${s##*) }; echo "${20}"; }
reused_pid() { [ -n "${REUSED:-}" ] || { as_uid %[1]d setsid sleep 1000 </dev/null >/dev/null 2>&1 & REUSED=$!; }; echo "$REUSED"; }
mkdir -m 0755 "$LOCK"
REUSED=
reused_pid >/dev/null
printf '%%s\n' "%[2]s" >"$LOCK/holder"
chown -R %[3]d:%[3]d "$LOCK"
cat "$LOCK/holder"`, c.uid, holder, uid)}, []templates.Params{p}
	}
}

// nsCheckLockTakenOver: the stale lock was taken over (logged with what was
// found, why) and the gateway recovered as on a fresh /tmp.
func nsCheckLockTakenOver(why string) func(nsT, nsCtx, *nsResult) {
	return func(t nsT, c nsCtx, r *nsResult) {
		t.Helper()
		nsCheckFreshRecovery(t, c, r)
		nsLogHasLine(t, r, nsGatewayLog, "[gateway-recovery] took over stale lock: "+nsLock, why)
	}
}

// nsCheckLaunchUmask: one launch of role, whose umask (from its own
// /proc/self/status) and LC_ALL (absent when locale is "") are the
// caller's, and a file it created has the matching mode.
func nsCheckLaunchUmask(role, umask, locale string) func(nsT, nsCtx, *nsResult) {
	return func(t nsT, c nsCtx, r *nsResult) {
		t.Helper()
		if role == "hermes-gateway" {
			nsCheckHermesRecovered(t, c, r)
		} else {
			nsWantRecovered(t, c, r, nsGatewayLog)
		}
		s, ok := nsWantOneLaunch(t, r, role)
		if !ok {
			return
		}
		if s.Umask != umask {
			t.Errorf("%s umask %q, want %q", role, s.Umask, umask)
		}
		if got, set := s.Env["LC_ALL"]; locale == "" && set {
			t.Errorf("%s has LC_ALL=%q; the caller had none", role, got)
		} else if locale != "" && got != locale {
			t.Errorf("%s LC_ALL=%q, want the caller's %q", role, got, locale)
		}
		if s.Env["LANG"] != "C.UTF-8" {
			t.Errorf("%s LANG=%q, want the caller's C.UTF-8", role, s.Env["LANG"])
		}
		// The record file the gateway wrote with mode 0666 &^ umask.
		m, _ := strconv.ParseUint(umask, 8, 32)
		want := os.FileMode(0o666 &^ m)
		fi, err := os.Stat(filepath.Join(r.dir, "rec", fmt.Sprintf("start-%s-%d.json", role, s.Pid)))
		if err != nil {
			t.Errorf("gateway record: %v", err)
		} else if fi.Mode().Perm() != want {
			t.Errorf("a file the gateway created has mode %04o, want %04o (umask %s)", fi.Mode().Perm(), want, umask)
		}
	}
}

// nsLogFixture is case 12's fixture: the hostile log, plus an earlier
// fallback log (runner-writable) whose content must survive.
func nsLogFixture(fx string) func(nsCtx) (nsSpec, []templates.Params) {
	return func(c nsCtx) (nsSpec, []templates.Params) {
		return nsSpec{fixture: fx + fmt.Sprintf("\necho older-fallback-output | put \"$FLOG\" %d 0644", c.uid)},
			[]templates.Params{nsOpenClaw(false)}
	}
}

func TestNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	// The validator stand-in is Python, as the image's is: the payload runs
	// it with a python3 from fixed absolute paths.
	for _, b := range []string{"unshare", "setpriv", "node", "dash", "bash", "curl", "gosu", "timeout", "ip", "ps", "find", "/usr/bin/python3"} {
		testenv.RequireBinary(t, b)
	}
	if err := nsEnsureSandboxDir(); err != nil {
		t.Fatalf("preparing the /sandbox mount point: %v", err)
	}
	for _, tc := range nsCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, shell := range []string{"dash", "bash"} {
				t.Run(shell, func(t *testing.T) {
					t.Parallel()
					for _, user := range tc.users {
						t.Run(user, func(t *testing.T) {
							t.Parallel()
							c := nsCtx{shell: "/bin/" + shell, asRoot: user == "root", uid: nsSandboxUID, gwUID: nsSandboxUID}
							if c.asRoot {
								c.uid, c.gwUID = 0, nsGatewayUID
							}
							sp, params := tc.build(c)
							if sp.noGatewayUser && c.asRoot {
								c.gwUID = 0
							}
							r := nsRunCase(t, c, sp, params)
							tc.check(t, c, r)
							nsCheckEveryRun(t, r, params)
							if t.Failed() || os.Getenv("NSTEST_DUMP") != "" {
								t.Logf("case state:\n%s", r.describe())
							}
						})
					}
				})
			}
		})
	}
}

// TestNamespaceRenderedVariants is issue 2's case 21: the old warn-and-launch
// line exists in no rendered variant (the whole-script runs check every
// output for it too, in nsCheckEveryRun).
func TestNamespaceRenderedVariants(t *testing.T) {
	custom := templates.Agent{Name: "myagent", DisplayName: "My Agent",
		GatewayCommand: []string{"myagent", "serve", "--port", "18800"},
		HealthURL:      "http://127.0.0.1:18800/health", Binary: "myagent"}
	variants := map[string]templates.Params{}
	for _, check := range []bool{false, true} {
		suffix := ""
		if check {
			suffix = "-check"
		}
		p := nsOpenClaw(check)
		variants["openclaw"+suffix] = p
		p.Agent, p.Port = templates.OpenClaw(19000), 19000
		variants["openclaw-port-19000"+suffix] = p
		h := nsHermes()
		h.Check = check
		variants["hermes"+suffix] = h
		h.HermesDashboard = templates.HermesDashboard{Enabled: true, Port: 18789, InternalPort: 9119}
		variants["hermes-with-dashboard"+suffix] = h
		h.Mode = templates.ModeHermesDashboard
		variants["hermes-dashboard-only"+suffix] = h
		cp := nsOpenClaw(check)
		cp.Agent, cp.Port = custom, 18800
		variants["custom"+suffix] = cp
	}
	names := make([]string, 0, len(variants))
	for n := range variants {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run("21-no-warn-and-launch-line/"+n, func(t *testing.T) {
			p := variants[n]
			p.RunID = uuid.NewString()
			b, err := templates.Render(p)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if strings.Contains(string(b), nsOldWarnLine) {
				t.Errorf("rendered %s payload contains %q", n, nsOldWarnLine)
			}
			// The dashboard-only variant launches only the dashboard, and
			// refuses in the dashboard's words.
			refusal := "refusing unguarded gateway relaunch"
			if p.Mode == templates.ModeHermesDashboard {
				refusal = "refusing unguarded dashboard relaunch"
			}
			if !strings.Contains(string(b), refusal) {
				t.Errorf("rendered %s payload lacks the refusal invariant's message %q", n, refusal)
			}
		})
	}
}

// nsRunCase renders params (fresh run ids) and runs them in one namespace.
func nsRunCase(t *testing.T, c nsCtx, sp nsSpec, params []templates.Params) *nsResult {
	t.Helper()
	sp.shell, sp.asRoot = c.shell, c.asRoot
	var ids []string
	for _, p := range params {
		p.RunID = uuid.NewString()
		b, err := templates.Render(p)
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		// NSTEST_MUTATE="old=>new" plants a bug in every rendered payload
		// (a literal replacement), for reviewers proving that the cases
		// catch it; it must never be set in CI.
		if m := os.Getenv("NSTEST_MUTATE"); m != "" {
			from, to, ok := strings.Cut(m, "=>")
			if !ok || !strings.Contains(string(b), from) {
				t.Fatalf("NSTEST_MUTATE %q does not apply to the rendered payload", m)
			}
			b = []byte(strings.ReplaceAll(string(b), from, to))
		}
		sp.scripts = append(sp.scripts, b)
		ids = append(ids, p.RunID)
		// NSTEST_SAVE=dir keeps a copy of each rendered payload for running
		// it by hand.
		if d := os.Getenv("NSTEST_SAVE"); d != "" {
			_ = os.WriteFile(filepath.Join(d, strings.ReplaceAll(t.Name(), "/", "_")+"-"+strconv.Itoa(len(ids)-1)+".sh"), b, 0o644)
		}
	}
	return nsRun(t, sp, ids)
}

// nsStepOrder is the contract's step order.
var nsStepOrder = []string{"lock", "log", "safety-net", "ciao", "proxy-env", "guards", "secret-boundary",
	"health", "stale-processes", "binary", "reassert", "runtime-env", "launch", "settle", "dashboard", "inference"}

// nsCheckEveryRun holds for every run of every case: stdout carries only
// this run's machine lines, one final result that is the last line, steps
// by contract name and order, an exit status that matches the outcome,
// diagnostics on failure, the lock released, and the old warn-and-launch
// line nowhere.
func nsCheckEveryRun(t nsT, r *nsResult, params []templates.Params) {
	t.Helper()
	for i, o := range r.runs {
		if o.rc == 124 || o.rc == 137 {
			t.Errorf("run %d hung (timeout killed it, exit %d)", i, o.rc)
		}
		if len(o.badLines) > 0 {
			t.Errorf("run %d: stdout lines that are not this run's machine lines: %q", i, o.badLines)
		}
		res := o.result()
		if res == nil {
			t.Errorf("run %d: no result line", i)
			continue
		}
		if last := o.events[len(o.events)-1]; last.kind != "result" {
			t.Errorf("run %d: the last machine line is %q, not the result", i, last.kind)
		}
		n := 0
		for _, e := range o.events {
			if e.kind == "result" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("run %d: %d result lines, want 1", i, n)
		}
		for _, k := range []string{"outcome", "gateway_pid", "inference", "log", "reason"} {
			if _, ok := res.f[k]; !ok {
				t.Errorf("run %d: result line lacks %s=", i, k)
			}
		}
		if inf := res.f["inference"]; inf != "ok" && inf != "broken" && inf != "unknown" {
			t.Errorf("run %d: inference=%q", i, inf)
		}
		if want := templates.ExitStatus(res.f["outcome"]); o.rc != want {
			t.Errorf("run %d: exit status %d for outcome %q, want %d", i, o.rc, res.f["outcome"], want)
		}
		last := -1
		for _, e := range o.events {
			if e.kind != "step" {
				continue
			}
			idx := -1
			for k, s := range nsStepOrder {
				if s == e.f["step"] {
					idx = k
				}
			}
			switch {
			case idx < 0:
				t.Errorf("run %d: unknown step %q", i, e.f["step"])
			case idx < last:
				t.Errorf("run %d: step %q out of the contract's order", i, e.f["step"])
			default:
				last = idx
			}
			st := e.f["status"]
			okStatus := map[string]bool{"ok": true, "failed": true, "skipped": true}
			if params[i].Check {
				okStatus["would-change"] = true
			} else {
				okStatus["changed"] = true
			}
			if !okStatus[st] {
				t.Errorf("run %d: step %s status %q (check mode %v)", i, e.f["step"], st, params[i].Check)
			}
		}
		// SPEC §5.2 step 3, §10 item 4: every decision goes to stderr and
		// the selected log. (Check mode writes no log by design, and a run
		// that found the lock held stops before selecting one.)
		if !params[i].Check && res.f["outcome"] != templates.OutcomeInProgress {
			log := r.text(res.f["log"])
			for _, l := range strings.Split(o.stderr, "\n") {
				// A failure also quotes the log's own last lines on stderr
				// ("[gateway-recovery]   | <log line>"): those are in the log
				// already, unquoted.
				quoted := strings.TrimLeft(strings.TrimPrefix(l, "[gateway-recovery] "), " |")
				if strings.HasPrefix(l, "[gateway-recovery] ") && !strings.Contains(log, l) && !strings.Contains(log, quoted) {
					t.Errorf("run %d: decision on stderr but not in the selected log %s: %q", i, res.f["log"], l)
				}
			}
		}
		if templates.ExitStatus(res.f["outcome"]) == 1 && res.f["outcome"] != templates.OutcomeWouldRefuse && nsDiag(r, i) == nil {
			t.Errorf("run %d: outcome %s without a diag line", i, res.f["outcome"])
		}
	}
	// A lock the fixture planted and the payload could not move (another
	// user's) is not one it left.
	if f := r.file(nsLock); f.exists && !strings.Contains(r.snapBefore, strings.TrimPrefix(nsLock, "/tmp/")+"|d|") {
		t.Errorf("lock %s left behind: %s", nsLock, f)
	}
	for _, name := range nsLeftovers(r) {
		t.Errorf("the payload left /tmp/%s behind (staging and lock debris must not accumulate)", name)
	}
	if strings.Contains(r.allText(), nsOldWarnLine) {
		t.Errorf("%q was emitted", nsOldWarnLine)
	}
}

// nsLeftovers lists /tmp entries that appeared during the runs and are not
// files the payload is meant to leave (SPEC §5.1): the logs (and a rotated
// .1), the staged guards, the recovered env (or its per-run fallback), the
// proxy-env when it was missing, the dashboard's log.
func nsLeftovers(r *nsResult) []string {
	names := func(snap string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(snap, "\n") {
			if name, _, ok := strings.Cut(l, "|"); ok && !strings.Contains(name, "/") {
				m[name] = true
			}
		}
		return m
	}
	before, after := names(r.snapBefore), names(r.snapAfter)
	var out []string
	for n := range after {
		switch {
		case before[n],
			n == "gateway.log", n == "gateway.log.1", n == "gateway-recovery.log", n == "gateway-recovery.log.1",
			n == "nemoclaw-sandbox-safety-net.js", n == "nemoclaw-ciao-network-guard.js",
			n == "nemoclaw-proxy-env.sh", // recreated when it was missing (issue 9 item 3)
			n == "hermes-dashboard.log", n == "hermes-dashboard.log.1",
			strings.HasPrefix(n, "nemoclaw-recovered-proxy-env"):
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func nsWantOutcome(t nsT, r *nsResult, i int, outcome string) {
	t.Helper()
	if i >= len(r.runs) {
		t.Errorf("run %d missing", i)
		return
	}
	o := r.runs[i]
	if got := o.outcome(); got != outcome {
		reason := ""
		if res := o.result(); res != nil {
			reason = res.f["reason"]
		}
		t.Errorf("run %d: outcome %q (reason %q), want %q", i, got, reason, outcome)
	}
	if want := templates.ExitStatus(outcome); o.rc != want {
		t.Errorf("run %d: exit status %d, want %d", i, o.rc, want)
	}
}

func nsDiag(r *nsResult, i int) *nsEvent {
	for k := range r.runs[i].events {
		if r.runs[i].events[k].kind == "diag" {
			return &r.runs[i].events[k]
		}
	}
	return nil
}

func nsHasStepStatus(r *nsResult, i int, status string) bool {
	for _, e := range r.runs[i].events {
		if e.kind == "step" && e.f["status"] == status {
			return true
		}
	}
	return false
}

// nsGatewayStart is the single gateway the payload launched, or nil (with
// an error) when there was not exactly one.
func nsGatewayStart(t nsT, r *nsResult) *nsStart {
	t.Helper()
	if len(r.starts) != 1 {
		t.Errorf("payload launched the gateway %d times, want once", len(r.starts))
		return nil
	}
	return &r.starts[0]
}

// nsWantOneLaunch wants exactly one launch of role; ok is false (already
// reported) when there was none to inspect further.
func nsWantOneLaunch(t nsT, r *nsResult, role string) (s nsStart, ok bool) {
	t.Helper()
	p := nsGatewayStart(t, r)
	if p == nil {
		return nsStart{Env: map[string]string{}}, false
	}
	if p.Role != role {
		t.Errorf("launched %q, want %q", p.Role, role)
	}
	return *p, true
}

func nsWantNoLaunch(t nsT, r *nsResult) {
	t.Helper()
	for _, s := range r.starts {
		t.Errorf("payload launched %s (pid %d, NODE_OPTIONS %q) where nothing may be launched", s.Role, s.Pid, s.Env["NODE_OPTIONS"])
	}
}

// nsWantGuarded is the refusal invariant seen from the gateway: both guard
// tokens exactly once in its NODE_OPTIONS, both trusted preloads really
// loaded, no attacker code loaded, the expected uid, stdin from /dev/null
// and its output appended to the selected log.
func nsWantGuarded(t nsT, r *nsResult, s nsStart, uid int, logPath string) {
	t.Helper()
	req := nsRequireTokens(s.Env["NODE_OPTIONS"])
	for _, p := range []string{nsSafetyNetTmp, nsCiaoTmp} {
		if req[p] != 1 {
			t.Errorf("gateway NODE_OPTIONS %q requires %s %d times, want exactly once", s.Env["NODE_OPTIONS"], p, req[p])
		}
	}
	nsWantPreload(t, s, "safety-net:trusted")
	nsWantPreload(t, s, "ciao:trusted")
	for _, p := range s.Preloads {
		if strings.HasPrefix(p, "attacker") {
			t.Errorf("gateway loaded attacker code (%s)", p)
		}
	}
	if s.UID != uid || s.EUID != uid {
		t.Errorf("gateway uid/euid = %d/%d, want %d", s.UID, s.EUID, uid)
	}
	if len(s.Fds) == 3 {
		if s.Fds[0] != "/dev/null" {
			t.Errorf("gateway stdin = %q, want /dev/null", s.Fds[0])
		}
		if s.Fds[1] != logPath || s.Fds[2] != logPath {
			t.Errorf("gateway stdout/stderr = %q/%q, want the selected log %s", s.Fds[1], s.Fds[2], logPath)
		}
	}
	if res := r.runs[0].result(); res != nil && res.f["gateway_pid"] != strconv.Itoa(s.Pid) {
		t.Errorf("result gateway_pid=%q, the launched gateway is pid %d", res.f["gateway_pid"], s.Pid)
	}
}

func nsWantPreload(t nsT, s nsStart, marker string) {
	t.Helper()
	for _, p := range s.Preloads {
		if p == marker {
			return
		}
	}
	t.Errorf("gateway did not load preload %q (loaded %v)", marker, s.Preloads)
}

// nsWantRequires checks extra NODE_OPTIONS paths (kept from a proxy-env)
// are each required exactly as often as wanted.
func nsWantRequires(t nsT, s nsStart, want map[string]int) {
	t.Helper()
	req := nsRequireTokens(s.Env["NODE_OPTIONS"])
	for p, n := range want {
		if req[p] != n {
			t.Errorf("gateway NODE_OPTIONS %q requires %s %d times, want %d", s.Env["NODE_OPTIONS"], p, req[p], n)
		}
	}
}

// nsWantTrustedStaged: both staged copies regular, 0444, owned by uid,
// byte-equal to the trusted sources.
func nsWantTrustedStaged(t nsT, r *nsResult, uid int) {
	t.Helper()
	for _, p := range []string{nsSafetyNetTmp, nsCiaoTmp} {
		nsWantFile(t, r, p, "file", 0o444, uid, string(r.trusted[p]))
	}
}

// nsWantRecoveredEnv: the generated env is runner-owned 0444 and requires
// both guards.
func nsWantRecoveredEnv(t nsT, r *nsResult, uid int) {
	t.Helper()
	f := r.file(nsRecoveredEnv)
	if f.kind != "file" || f.mode.Perm() != 0o444 || f.uid != uid {
		t.Errorf("%s is %s, want a regular 0444 file owned by %d", nsRecoveredEnv, f, uid)
	}
	for _, p := range []string{nsSafetyNetTmp, nsCiaoTmp} {
		if !strings.Contains(string(f.data), p) {
			t.Errorf("%s does not mention %s:\n%s", nsRecoveredEnv, p, f.data)
		}
	}
}

func nsWantFile(t nsT, r *nsResult, path, kind string, mode uint32, uid int, data string) {
	t.Helper()
	f := r.file(path)
	if f.kind != kind || uint32(f.mode.Perm()) != mode || f.uid != uid {
		t.Errorf("%s is %s, want %s %04o uid=%d", path, f, kind, mode, uid)
	}
	if kind == "file" && string(f.data) != data {
		t.Errorf("%s content = %q, want %q", path, nsHead(string(f.data)), nsHead(data))
	}
}

// nsWantRecovered is the common shape of a successful OpenClaw recovery:
// outcome, one guarded launch, trusted staged copies, recovered env, and an
// inference probe that found nothing listening (the namespace has no
// inference server: it must say broken, not ok).
func nsWantRecovered(t nsT, c nsCtx, r *nsResult, logPath string) nsStart {
	t.Helper()
	nsWantOutcome(t, r, 0, templates.OutcomeRecovered)
	s, ok := nsWantOneLaunch(t, r, "openclaw-gateway")
	if !ok {
		return s
	}
	nsWantGuarded(t, r, s, c.gwUID, logPath)
	if want := []string{"gateway", "run", "--port", "18789"}; strings.Join(s.Args, " ") != strings.Join(want, " ") {
		t.Errorf("gateway argv = %q, want %q", s.Args, want)
	}
	nsWantTrustedStaged(t, r, nsStagedOwner(c, r))
	nsWantRecoveredEnv(t, r, c.uid)
	if res := r.runs[0].result(); res != nil {
		if res.f["log"] != logPath {
			t.Errorf("result log=%q, want %s", res.f["log"], logPath)
		}
		if _, err := os.Stat(filepath.Join(r.dir, "inference.js")); err != nil && res.f["inference"] != "broken" {
			t.Errorf("result inference=%q with no inference server, want broken", res.f["inference"])
		}
	}
	return s
}

// nsStagedOwner: as root the staged copies are root's; a non-root runner
// owns what it wrote, and accepts (without rewriting) intact copies another
// uid left, so those keep their owner.
func nsStagedOwner(c nsCtx, r *nsResult) int {
	if c.asRoot {
		return 0
	}
	if f := r.file(nsSafetyNetTmp); f.exists && strings.Contains(r.snapBefore, "nemoclaw-sandbox-safety-net.js|f|"+strconv.Itoa(f.uid)+"|") && f.uid != c.uid {
		return f.uid
	}
	return c.uid
}

// nsCheckFreshRecovery is case 01: everything rebuilt from nothing.
func nsCheckFreshRecovery(t nsT, c nsCtx, r *nsResult) {
	t.Helper()
	s := nsWantRecovered(t, c, r, nsGatewayLog)
	nsLogHas(t, r, nsGatewayLog, nsMissingWarning)
	nsLogHas(t, r, nsGatewayLog, nsRestoringText)
	if !strings.Contains(r.runs[0].stderr, nsRestoringText) {
		t.Errorf("stderr lacks %q", nsRestoringText)
	}
	nsWantRecreatedProxyEnv(t, r, c.uid)
	req := nsRequireTokens(s.Env["NODE_OPTIONS"])
	if len(req) != 2 {
		t.Errorf("gateway NODE_OPTIONS %q requires %d paths, want just the two guards", s.Env["NODE_OPTIONS"], len(req))
	}
	if r.file(nsGatewayLog).kind != "file" {
		t.Errorf("%s is %s, want the selected log", nsGatewayLog, r.file(nsGatewayLog))
	}
}

// nsWantTrustedEnvKept: the trusted proxy-env is untouched and its bytes
// are carried verbatim into what the gateway got.
func nsWantTrustedEnvKept(t nsT, r *nsResult, opts string) {
	t.Helper()
	want := "# written by the nstest entrypoint\nexport HTTP_PROXY='http://10.200.0.1:3128'\nexport HTTPS_PROXY='http://10.200.0.1:3128'\nexport NO_PROXY='localhost,127.0.0.1,::1'\nexport NSTEST_TRUSTED_MARK='kept-verbatim'\nexport NODE_OPTIONS=\"" + opts + "\"\n"
	nsWantFile(t, r, nsProxyEnv, "file", 0o444, 0, want)
	renv := r.text(nsRecoveredEnv)
	if renv != "" && !strings.Contains(renv, want) {
		t.Errorf("%s does not carry the trusted proxy-env verbatim:\n%s", nsRecoveredEnv, renv)
	}
	if len(r.starts) == 1 {
		env := r.starts[0].Env
		if env["NSTEST_TRUSTED_MARK"] != "kept-verbatim" || env["HTTPS_PROXY"] != "http://10.200.0.1:3128" {
			t.Errorf("gateway env lacks the trusted proxy-env's values (NSTEST_TRUSTED_MARK=%q HTTPS_PROXY=%q)",
				env["NSTEST_TRUSTED_MARK"], env["HTTPS_PROXY"])
		}
	}
}

// nsCheckHostileEnv is case 05 for one shape of untrusted proxy-env.
func nsCheckHostileEnv(kind string, mode uint32, uid int, keepsClean bool) func(nsT, nsCtx, *nsResult) {
	return func(t nsT, c nsCtx, r *nsResult) {
		t.Helper()
		s := nsWantRecovered(t, c, r, nsGatewayLog)
		for _, m := range []string{"/tmp/nstest-pwned-cmdsubst", "/tmp/nstest-pwned-backtick", "/tmp/nstest-pwned-bare", "/tmp/nstest-pwned-semicolon"} {
			if r.file(m).exists {
				t.Errorf("%s exists: the untrusted proxy-env was executed", m)
			}
		}
		if _, ok := s.Env["NSTEST_EVIL"]; ok {
			t.Errorf("gateway env has NSTEST_EVIL: a variable outside the allow-list was kept")
		}
		if nsRequireTokens(s.Env["NODE_OPTIONS"])["/tmp/nstest-attacker.js"] != 0 {
			t.Errorf("gateway NODE_OPTIONS %q requires the attacker's file", s.Env["NODE_OPTIONS"])
		}
		for _, k := range []string{"HTTP_PROXY", "http_proxy"} {
			if v, ok := s.Env[k]; ok {
				t.Errorf("gateway env has %s=%q from an unsafe value", k, v)
			}
		}
		if keepsClean {
			for k, v := range nsHostileKept {
				if s.Env[k] != v {
					t.Errorf("gateway %s = %q: the allow-listed clean value %q was not kept", k, s.Env[k], v)
				}
			}
		}
		for _, k := range []string{"ALL_PROXY", "NSTEST_EVIL"} {
			if v, ok := s.Env[k]; ok {
				t.Errorf("gateway env has %s=%q from an unsafe line", k, v)
			}
		}
		if v := s.Env["NO_PROXY"]; v != "" && v != "localhost,127.0.0.1,::1" {
			t.Errorf("gateway NO_PROXY = %q, from the line with a backslash", v)
		}
		nsLogHas(t, r, nsGatewayLog, nsMissingWarning)
		if kind == "symlink" {
			// A link is not followed at all: nothing of it is read, so
			// the log must say why it was ignored rather than list drops.
			nsLogHasLineFold(t, r, nsGatewayLog, "[gateway-recovery]", nsProxyEnv, "symlink")
		} else {
			nsLogHasLineFold(t, r, nsGatewayLog, "[gateway-recovery]", "drop", "")
		}
		f := r.file(nsProxyEnv)
		if f.kind != kind || (kind == "file" && (uint32(f.mode.Perm()) != mode || f.uid != uid)) ||
			(kind == "symlink" && (f.target != "/tmp/nstest-env-target" || f.uid != uid)) {
			t.Errorf("%s is now %s: the untrusted file must be left alone", nsProxyEnv, f)
		}
		nsWantUnchanged(t, r, nsProxyEnv)
	}
}

// nsCheckSourceRefusal is case 07: the refusal for an untrustworthy
// source. exact, when set, is the log line SPEC §5.3 words exactly.
func nsCheckSourceRefusal(exact string) func(nsT, nsCtx, *nsResult) {
	return func(t nsT, c nsCtx, r *nsResult) {
		t.Helper()
		nsWantOutcome(t, r, 0, templates.OutcomeRefused)
		nsWantNoLaunch(t, r)
		nsLogHas(t, r, nsGatewayLog, nsRefusalLine)
		nsWantStderrHas(t, r, 0, nsRefusalLine)
		if exact != "" {
			nsLogHas(t, r, nsGatewayLog, "[gateway-recovery] "+exact)
		} else {
			nsLogHasLineFold(t, r, nsGatewayLog, "[gateway-recovery]", "/usr/local/lib/nemoclaw/preloads", "refusing preload install")
		}
		if f := r.file(nsSafetyNetTmp); f.exists && (f.kind != "file" || string(f.data) != string(r.trusted[nsSafetyNetTmp])) {
			t.Errorf("%s was staged from an untrusted source: %s %q", nsSafetyNetTmp, f, nsHead(string(f.data)))
		}
	}
}

// nsCheckFallbackLog is case 12's shared part: recovered, logging to the
// fallback log, which kept its earlier content.
func nsCheckFallbackLog(t nsT, c nsCtx, r *nsResult) {
	t.Helper()
	nsWantRecovered(t, c, r, nsFallbackLog)
	flog := r.text(nsFallbackLog)
	if !strings.HasPrefix(flog, "older-fallback-output\n") {
		t.Errorf("%s lost its earlier content; starts %q", nsFallbackLog, nsHead(flog))
	}
	nsLogHas(t, r, nsFallbackLog, r.runIDs[0])
	nsLogHas(t, r, nsFallbackLog, nsMissingWarning)
}

// nsCheckHermesRecovered: a Hermes recovery launched exactly `hermes
// gateway run` with HERMES_HOME, no --port, guarded, as the runner.
func nsCheckHermesRecovered(t nsT, c nsCtx, r *nsResult) {
	t.Helper()
	nsWantOutcome(t, r, 0, templates.OutcomeRecovered)
	s, ok := nsWantOneLaunch(t, r, "hermes-gateway")
	if !ok {
		return
	}
	nsWantGuarded(t, r, s, c.uid, nsGatewayLog)
	if strings.Join(s.Args, " ") != "gateway run" {
		t.Errorf("hermes argv = %q, want [gateway run] (no --port)", s.Args)
	}
	if s.Env["HERMES_HOME"] != "/sandbox/.hermes" {
		t.Errorf("hermes HERMES_HOME = %q, want /sandbox/.hermes", s.Env["HERMES_HOME"])
	}
	nsWantTrustedStaged(t, r, c.uid)
}

func nsWantNoSecret(t nsT, r *nsResult) {
	t.Helper()
	for i, o := range r.runs {
		if strings.Contains(o.stdout, nsSecret) || strings.Contains(o.stderr, nsSecret) {
			t.Errorf("run %d printed the secret value", i)
		}
	}
	for _, p := range []string{nsGatewayLog, nsFallbackLog} {
		if strings.Contains(r.text(p), nsSecret) {
			t.Errorf("%s contains the secret value", p)
		}
	}
}

func nsWantValidatorCalled(t nsT, r *nsResult, arg string) {
	t.Helper()
	for _, c := range r.validatorCalls {
		if strings.HasSuffix(c, "args="+arg) {
			return
		}
	}
	t.Errorf("validator never called with %q (calls: %q)", arg, r.validatorCalls)
}

func nsWantValidatorNotCalled(t nsT, r *nsResult, arg string) {
	t.Helper()
	for _, c := range r.validatorCalls {
		if strings.HasSuffix(c, "args="+arg) {
			t.Errorf("validator called with %q (calls: %q)", arg, r.validatorCalls)
		}
	}
}

// nsWantFixtureRunningAsResult: the one gateway the fixture started is
// still running and is the gateway_pid the result names.
func nsWantFixtureRunningAsResult(t nsT, r *nsResult) {
	t.Helper()
	if len(r.fixtureStarts) != 1 {
		t.Errorf("fixture gateway starts = %d, want 1", len(r.fixtureStarts))
		return
	}
	pid := r.fixtureStarts[0].Pid
	if !nsProcAlive(r, pid) {
		t.Errorf("the healthy gateway (pid %d) is gone; ps:\n%s", pid, r.ps)
	}
	if res := r.runs[0].result(); res != nil && res.f["gateway_pid"] != strconv.Itoa(pid) {
		t.Errorf("gateway_pid = %q, want the running gateway %d", res.f["gateway_pid"], pid)
	}
}

// nsGuardLine is the line the payload writes to add one guard's require.
func nsGuardLine(path string) string {
	return `export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--require ` + path + `"` + "\n"
}

// nsWantRecreatedProxyEnv: /tmp/nemoclaw-proxy-env.sh, missing before the
// run, was recreated (issue 9 item 3): runner-owned 0444, exports only,
// exactly the two guard requires, and sourcing it into an empty
// NODE_OPTIONS (as the image's login hook does, in a real dash) requires
// each guard exactly once.
func nsWantRecreatedProxyEnv(t nsT, r *nsResult, uid int) {
	t.Helper()
	want := nsGuardLine(nsSafetyNetTmp) + nsGuardLine(nsCiaoTmp)
	nsWantFile(t, r, nsProxyEnv, "file", 0o444, uid, want)
	f := r.file(nsProxyEnv)
	for _, l := range strings.Split(strings.TrimSuffix(string(f.data), "\n"), "\n") {
		if !strings.HasPrefix(l, "export ") {
			t.Errorf("%s line %q is not an export", nsProxyEnv, l)
		}
	}
	out, err := exec.Command("dash", "-c", `unset NODE_OPTIONS; . "$1"; printf '%s' "$NODE_OPTIONS"`, "sh",
		filepath.Join(r.root, nsProxyEnv)).Output()
	if err != nil {
		t.Errorf("sourcing %s: %v", nsProxyEnv, err)
		return
	}
	req := nsRequireTokens(string(out))
	if len(req) != 2 || req[nsSafetyNetTmp] != 1 || req[nsCiaoTmp] != 1 {
		t.Errorf("sourcing %s gives NODE_OPTIONS %q, want exactly the two guard requires", nsProxyEnv, out)
	}
}

// nsWantUnchanged: path is byte for byte, inode, owner and mode what the
// fixture left (an existing proxy-env is never modified or replaced).
func nsWantUnchanged(t nsT, r *nsResult, path string) {
	t.Helper()
	name := strings.TrimPrefix(path, "/tmp/")
	entry := func(snap string) []string {
		var out []string
		for _, l := range strings.Split(snap, "\n") {
			if strings.HasPrefix(l, name+"|") || strings.HasSuffix(l, "  ./"+name) {
				out = append(out, l)
			}
		}
		return out
	}
	before, after := entry(r.snapBefore), entry(r.snapAfter)
	if len(before) == 0 {
		t.Errorf("%s was not there before the run", path)
	}
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("%s changed:\nbefore %q\nafter  %q", path, before, after)
	}
}

// nsCheckNothingChanged: /tmp before and after are identical (names,
// types, owners, modes, sizes, link targets, content hashes), and nothing
// was launched.
func nsCheckNothingChanged(t nsT, r *nsResult) {
	t.Helper()
	if r.snapBefore != r.snapAfter {
		t.Errorf("check mode changed /tmp:\nbefore:\n%s\nafter:\n%s", r.snapBefore, r.snapAfter)
	}
	nsWantNoLaunch(t, r)
}

func nsWantStderrHas(t nsT, r *nsResult, i int, s string) {
	t.Helper()
	if !strings.Contains(r.runs[i].stderr, s) {
		t.Errorf("run %d stderr lacks %q", i, s)
	}
}

func nsLogHas(t nsT, r *nsResult, path, s string) {
	t.Helper()
	if !strings.Contains(r.text(path), s) {
		t.Errorf("%s lacks %q", path, s)
	}
}

func nsLogLacks(t nsT, r *nsResult, path, s string) {
	t.Helper()
	if strings.Contains(r.text(path), s) {
		t.Errorf("%s contains %q", path, s)
	}
}

// nsLogHasLine wants one line of the log containing every part.
func nsLogHasLine(t nsT, r *nsResult, path string, parts ...string) {
	t.Helper()
	for _, l := range strings.Split(r.text(path), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return
		}
	}
	t.Errorf("%s has no line containing all of %q", path, parts)
}

// nsLogHasLineFold: one line starting with prefix whose lower-cased text
// contains a and b (either may be empty).
func nsLogHasLineFold(t nsT, r *nsResult, path, prefix, a, b string) {
	t.Helper()
	for _, l := range strings.Split(r.text(path), "\n") {
		low := strings.ToLower(l)
		if strings.HasPrefix(l, prefix) && strings.Contains(low, strings.ToLower(a)) && strings.Contains(low, strings.ToLower(b)) {
			return
		}
	}
	t.Errorf("%s has no %q line mentioning %q and %q", path, prefix, a, b)
}

var nsPsLine = regexp.MustCompile(`^\s*(\d+)\s+\d+\s+\d+\s+(\S+)`)

// nsProcAlive: pid is in the process list taken after the runs, not a zombie.
func nsProcAlive(r *nsResult, pid int) bool {
	for _, l := range strings.Split(r.ps, "\n") {
		m := nsPsLine.FindStringSubmatch(l)
		if m != nil && m[1] == strconv.Itoa(pid) {
			return !strings.HasPrefix(m[2], "Z")
		}
	}
	return false
}

func nsHead(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// nsRecorder is an nsT that only counts, for the harness self-test.
type nsRecorder struct {
	mu     sync.Mutex
	errors []string
}

func (r *nsRecorder) Helper() {}
func (r *nsRecorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *nsRecorder) Logf(string, ...any) {}

// TestNamespaceHarnessDetects proves the checks can fail: a fake
// "payload" that claims success while launching the gateway without the
// guard tokens, staging nothing and printing noise must be caught by the
// same checks case 01 uses, for the right reasons.
func TestNamespaceHarnessDetects(t *testing.T) {
	testenv.RequireRoot(t)
	for _, b := range []string{"unshare", "setpriv", "node", "dash"} {
		testenv.RequireBinary(t, b)
	}
	if err := nsEnsureSandboxDir(); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	fake := `#!/bin/sh
echo "login banner noise"
setsid openclaw gateway run --port 18789 </dev/null >>/tmp/gateway.log 2>&1 &
sleep 1
echo "@nemoclaw ` + id + ` result outcome=recovered gateway_pid=$! inference=broken log=/tmp/gateway.log reason="
exit 0
`
	c := nsCtx{shell: "/bin/dash", asRoot: true, uid: 0, gwUID: nsGatewayUID}
	r := nsRun(t, nsSpec{shell: c.shell, asRoot: true, scripts: [][]byte{[]byte(fake)}}, []string{id})
	if len(r.starts) != 1 {
		t.Fatalf("the fake payload's gateway did not record its start (%d records); harness broken:\n%s", len(r.starts), r.describe())
	}
	rec := &nsRecorder{}
	nsCheckFreshRecovery(rec, c, r)
	nsCheckEveryRun(rec, r, []templates.Params{nsOpenClaw(false)})
	all := strings.Join(rec.errors, "\n")
	for _, want := range []string{
		"requires /tmp/nemoclaw-sandbox-safety-net.js 0 times", // no tokens
		"did not load preload \"safety-net:trusted\"",          // preloads not loaded
		"gateway uid/euid = 0/0, want 1002",                    // not run as gateway
		"/tmp/nemoclaw-sandbox-safety-net.js is absent",        // nothing staged
		"lacks \"" + nsMissingWarning + "\"",                   // no warning
		"not this run's machine lines",                         // stdout noise
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the checks missed: %s\nthey reported:\n%s", want, all)
		}
	}
}
