package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/internal/shellquote"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// dashboardCommand is `<name> dashboard [--open]` (new; nothing like it in
// NemoClaw): ensure the dashboard forward, verify it is ours (or
// OpenShell's for this sandbox), then print a login link.
//
// For OpenClaw the link is the single-use `browserUrl` of `openclaw
// dashboard --json --no-open`, run inside the sandbox as the gateway's
// user: it carries a short-lived bootstrap that the Control UI binds to the
// browser that opens it, never the shared gateway token. The command's
// other fields (its `url` carries `#token=`) are read in memory and
// dropped: no token URL is ever printed, logged or written to a state
// file. Other agents get the plain URL. A port holder that is not verified
// ours exits 4 and prints no link.
func (inv *Invocation) dashboardCommand() *cli.Command {
	return &cli.Command{
		Name:  "dashboard",
		Usage: "ensure the forward and print a login link for the dashboard (--open: open it)",
		Flags: append(commonFlags(), &cli.BoolFlag{Name: "open", Usage: "open the link with xdg-open (or open)"}),
		Action: func(c *cli.Context) error {
			name, rest, _ := sandboxArgs(c)
			if len(rest) > 0 {
				return usageErrorf("dashboard: unexpected argument %q", rest[0])
			}
			out, flags, err := inv.verbSetup(c)
			if err != nil {
				return err
			}
			ctx := c.Context
			if flags.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, flags.timeout)
				defer cancel()
			}
			rep := inv.dashboardLink(ctx, name, flags)
			if rep.ExitCode == exitcode.OK && c.Bool("open") {
				rep.Summary += " " + openLink(rep.DashboardURL)
			}
			return out.emit(inv, rep)
		},
	}
}

func (inv *Invocation) dashboardLink(ctx context.Context, name string, flags runFlags) *recovery.Report {
	fail := func(outcome string, err error) *recovery.Report {
		return recovery.ErrorReport("dashboard", name, outcome, exitcode.Of(err), err)
	}
	sb, err := inv.lookupSandbox(name)
	if err != nil {
		return fail(errorOutcome(err), err)
	}
	t, err := inv.resolveTarget(name, sb, flags)
	if err != nil {
		return fail("usage-error", err)
	}
	f := t.Forwards[0]
	fwd, err := inv.ensureForward(ctx, name, sb, f.Local, f.Remote)
	rep := forwardVerbReport(inv.Brand.Name, "dashboard", fwd, err)
	rep.Agent = t.Agent.Name
	if err != nil || fwd.State != recovery.ForwardHealthy || fwd.URL == "" {
		if rep.ExitCode == exitcode.OK {
			rep.ExitCode = exitcode.Forward
		}
		rep.Summary = fmt.Sprintf("No dashboard link for '%s': the forward on 127.0.0.1:%d is not verified (%s).", name, f.Local, strings.TrimSuffix(rep.Summary, "."))
		rep.Outcome = "forward-failed"
		return rep
	}
	link := fwd.URL
	if t.Agent.Name == "openclaw" {
		tr, err := inv.openTransport(ctx, name, sb)
		if err != nil {
			return fail("unreachable", err)
		}
		defer tr.Close()
		link, err = openClawBrowserURL(ctx, tr, f.Remote)
		if err != nil {
			r := fail("failed", withCode(exitcode.Failed, fmt.Errorf("the forward works, but OpenClaw in '%s' gave no login link: %w", name, err), ""))
			r.Forwards = rep.Forwards
			r.Diagnostics = &recovery.Diagnostics{FailingStep: "dashboard", Reason: err.Error(),
				Next: fmt.Sprintf("'%s %s status' checks the gateway; the plain dashboard is %s", inv.Brand.Name, name, fwd.URL)}
			return r
		}
		link = strings.Replace(link, "://127.0.0.1:"+strconv.Itoa(f.Remote)+"/", "://127.0.0.1:"+strconv.Itoa(f.Local)+"/", 1)
	}
	rep.Outcome = "link"
	rep.DashboardURL = link
	rep.Summary = fmt.Sprintf("Dashboard for '%s': %s", name, link)
	if link != fwd.URL {
		rep.Summary += "\n  A one-time link: open it within ten minutes; it pairs the browser that opens it."
	}
	return rep
}

// openClawGatewayScript runs `openclaw dashboard --json --no-open` as the
// user the gateway runs as (root may switch to it; anyone else runs it as
// themselves), so it reads the gateway's own state and config.
const openClawGatewayScript = `pid=$(pgrep -o -f '[o]penclaw[ -]gateway' 2>/dev/null)
u=
[ -n "$pid" ] && u=$(stat -c %U "/proc/$pid" 2>/dev/null)
if [ -n "$u" ] && [ "$u" != "$(id -un)" ] && [ "$(id -u)" = 0 ]; then
	if command -v gosu >/dev/null 2>&1; then
		exec gosu "$u" openclaw dashboard --json --no-open
	fi
	exec runuser -u "$u" -- openclaw dashboard --json --no-open
fi
exec openclaw dashboard --json --no-open`

// openClawBrowserURL runs the dashboard command in the sandbox and returns
// its browserUrl, checked to be a loopback URL on port whose fragment holds
// no shared token.
func openClawBrowserURL(ctx context.Context, tr sandboxexec.Transport, port int) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	outcome, err := tr.Run(ctx, sandboxexec.Command{Script: "sh -c " + shellquote.Quote(openClawGatewayScript), Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		return "", err
	}
	// The last line that parses as an object is the answer (a login shell
	// may print before it).
	var answer struct {
		OK         bool   `json:"ok"`
		Reason     string `json:"reason"`
		BrowserURL string `json:"browserUrl"`
	}
	found := false
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	for i := len(lines) - 1; i >= 0 && !found; i-- {
		found = json.Unmarshal([]byte(lines[i]), &answer) == nil
	}
	stdout.Reset() // the shared-token url is not kept a moment longer
	switch {
	case !found:
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[len(msg)-300:]
		}
		return "", fmt.Errorf("`openclaw dashboard --json --no-open` %s and printed no JSON object: %s", outcome, msg)
	case !answer.OK:
		return "", fmt.Errorf("`openclaw dashboard --json` said: %s", answer.Reason)
	}
	u, err := url.Parse(answer.BrowserURL)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("`openclaw dashboard --json` gave no usable browserUrl")
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" || u.Port() != strconv.Itoa(port) {
		return "", fmt.Errorf("`openclaw dashboard --json` gave a browserUrl for %s, not the forwarded 127.0.0.1:%d", u.Host, port)
	}
	frag, _ := url.ParseQuery(u.Fragment)
	if _, shared := frag["token"]; shared || u.Query().Has("token") {
		return "", errors.New("`openclaw dashboard --json` gave a browserUrl carrying the shared token; refusing to print it")
	}
	return answer.BrowserURL, nil
}

// openLink hands link to the desktop's opener, when there is one, and
// says what happened.
func openLink(link string) string {
	for _, opener := range []string{"xdg-open", "open"} {
		if p, err := exec.LookPath(opener); err == nil {
			if err := exec.Command(p, link).Start(); err == nil {
				return "Opened with " + opener + "."
			}
		}
	}
	return "(--open: no xdg-open or open here; open the link by hand)"
}
