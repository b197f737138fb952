// Package templates renders the recovery payload: the POSIX sh script that
// runs inside a sandbox, restores the gateway's guard chain from trusted
// image-owned preloads, refuses to launch an unguarded gateway, relaunches
// it, and reports through `@nemoclaw <run-id> ...` result lines (SPEC §5).
//
// It knows shell and the sandbox's paths, and nothing of SSH or of the host:
// it turns validated Params into bytes (Render) and result lines back into
// data (ParseLine, Collector). Every value reaches the script through one
// header of `readonly NAME='...'` lines written by shellquote.Quote; the script body
// comes from the embedded templates (templates/payload/*.sh.tmpl), which
// select at render time only the chosen agent's, mode's and dashboard's
// code (a variant carries only what it runs: issue 9 item 10), never a
// value. Render validates everything first and renders nothing on error.
//
// Decisions where the spec is silent (documented here for reviewers):
//   - Check mode (diagnose) writes nothing at all: it does not take the lock
//     directory (it reports whether a live recovery holds it, or what a
//     recovery would take over), does not append to the gateway log (what it
//     would log goes to stderr only), never sources anything, and predicts
//     the recovered env from the data it reads. It runs the Hermes env-file
//     check (read-only) but not the runtime-env one (it sources nothing).
//   - A /tmp/nemoclaw-proxy-env.sh that is a directory refuses the relaunch
//     (issue 2, case 6): the entrypoint's chain cannot be read or repaired.
//   - Rendering drops the templates' comments, indentation and blank lines
//     (compact, quote-aware): they are for the templates' readers, and every
//     byte is pushed on every run, base64-encoded in one argument in the
//     OpenShell exec fallback. The rendered script keeps its shebang note
//     and the shellcheck directives it needs (SC1090 and SC2317 file-wide:
//     it sources what it generates, and trap handlers look unreachable).
//   - Health probes never use the sandbox proxy (curl --noproxy '*');
//     the inference probe does, as that is how inference.local is reached.
//     HTTP is curl, else a node one-liner (every gateway here is node);
//     wget is not used.
//   - The log is rotated to .1 above 8 MiB. A log the payload creates is
//     0600 (umask 077); the gateway writes to it through the inherited fd.
//     The Hermes dashboard's output goes to /tmp/hermes-dashboard.log (same
//     rules), else /tmp/hermes-dashboard-recovery.log (NemoClaw's fallback
//     name), else the selected gateway log, else /dev/null.
//   - What the payload launches gets the caller's umask and LC_ALL (set or
//     unset) back; it only overrides those two. Hermes' gateway and
//     dashboard get umask 0007 whatever the caller's, as its entrypoint.
//   - The deadline is enforced where the payload waits: at every step
//     boundary and in every polling loop; each external command that could
//     block carries its own cap (curl 3 s or 8 s, the validator 30 s under
//     timeout(1), process stops the stop grace twice). There is no watchdog
//     process: it would outlive the run or hold the host's channel open.
//   - SIGHUP is ignored (a dropped connection must not abort a recovery
//     half-way); SIGINT and SIGTERM end the run with a `failed` result, the
//     lock released and temporary files removed.
//   - The trusted proxy-env's NODE_OPTIONS is learnt by sourcing the
//     payload's own private copy in a throw-away subshell (the original is
//     never sourced); check mode, which sources nothing, reads its words as
//     data instead.
//   - Sourcing runs with set +u: an entrypoint's env that expands an unset
//     variable must not end the recovery.
//   - Inherited NODE_OPTIONS (issue 9 item 2): --require/-r, --import,
//     --loader and --experimental-loader (also spelt --experimental_loader),
//     with their values, are dropped and each drop logged; a `-r` glued to
//     its value (`-rX`, `-r=X`) too. A value holding a quote or a backslash
//     is dropped whole: node reads those, so words split on blanks would not
//     be node's words. What is kept is re-joined with single spaces.
//   - A missing /tmp/nemoclaw-proxy-env.sh is recreated only when both
//     guards are ready (the file then requires both), with the two guard
//     lines only (a missing file had nothing else to keep), staged 0444 and
//     hard-linked into place: link(2) fails rather than replace a file that
//     appeared meanwhile. A failure to recreate it is logged and does not
//     stop the recovery. A non-root runner's copy is sandbox-owned, so the
//     next run reads it as untrusted data (and regenerates the guards).
//   - The Hermes validator runs under a python3 from fixed absolute paths
//     (/opt/hermes/.venv/bin/python3, /usr/local/bin/python3,
//     /usr/bin/python3, as NemoClaw's recovery picks one), with -I, and only
//     when it passes the trusted-file checks the preload sources pass (it is
//     image code run with the runner's privileges). Exit 1 is a violation.
//     Any other failure (a usage error, a crash, the 30 s cap, no trusted
//     python3, an untrusted validator) means the check could not decide:
//     `secret-boundary-refused`, nothing stopped, nothing launched. An
//     env-file violation stops the gateway and dashboard (they loaded that
//     .env); a runtime-env violation stops nothing (it is this shell's own
//     environment, which running processes never had). The runtime-env
//     check runs once per run, before whichever launch comes first (gateway
//     or dashboard), never when nothing is launched. The validator's stdout
//     is discarded; its stderr (key names and line numbers) is logged, at
//     most 50 lines.
//   - The dashboard-only variant refuses in NemoClaw's dashboard wording
//     (`... refusing unguarded dashboard relaunch`), at its guards step too:
//     it launches no gateway. A gateway-mode run with the dashboard uses
//     the gateway wording, and the dashboard's at the dashboard step.
//   - The lock (issue 9 item 8) holds one record, `holder`: pid, start time
//     (field 22 of /proc/<pid>/stat) and the boot-clock time it was taken.
//     Its age is measured against this run's own deadline plus a 30 s
//     margin (a holder started with a longer --timeout may be taken over
//     after that; it is logged). A start time that cannot be read (hidepid)
//     is no mismatch: the age still bounds the lock; a recorded 0 means the
//     holder could not read its own. A lock with no well-formed record (an
//     older payload's `pid` file) is stale after a 1 s wait for its creator.
//     A stale lock the runner cannot move (another uid's in sticky /tmp) is
//     `failed` with the lock, what it names and its owner's uid.
//   - Process patterns (issue 9 item 6): the program's base name and its
//     subcommand words up to the first option, joined by [[:space:]]+, then
//     a blank or the end of the line; OpenClaw also matches its renamed
//     `openclaw-gateway` process. The Hermes dashboard pattern is stopped on
//     an env-file violation even when this run does not manage the
//     dashboard.
//   - The stale-process stop grace is a render input (StopGrace, default 5
//     s, 100 ms to 1 min): SIGTERM, wait up to it, SIGKILL, wait up to it.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/sandboxspec"
	"github.com/nemoclaw/nemoclaw-go/internal/shellquote"
)

// Mode selects what the payload recovers.
type Mode int

const (
	// ModeGateway is the gateway recovery of SPEC §5.2 (and the Hermes
	// dashboard after it, when enabled).
	ModeGateway Mode = iota
	// ModeHermesDashboard is the dashboard-only variant: same log, guard and
	// refusal rules, then only the Hermes dashboard, for a sandbox whose
	// gateway is healthy but whose dashboard is not.
	ModeHermesDashboard
)

func (m Mode) String() string {
	switch m {
	case ModeGateway:
		return "gateway"
	case ModeHermesDashboard:
		return "hermes-dashboard"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Agent is what the payload needs to know of an agent (SPEC §3.2).
type Agent struct {
	Name           string   // "openclaw", "hermes", or a custom agent name (sandbox-name charset)
	DisplayName    string   // for messages
	GatewayCommand []string // argv of the gateway, e.g. openclaw gateway run --port 18789
	HealthURL      string   // probed inside the sandbox; 200 or 401 is alive
	Binary         string   // a command name (found with command -v) or an absolute path (else command -v of its base name)
}

// Budget defaults (SPEC §5.2, §7.3).
const (
	DefaultDeadline  = 120 * time.Second
	DefaultReadiness = 90 * time.Second
	DefaultSettle    = 3 * time.Second
	// DefaultStopGrace is how long a stale process gets after SIGTERM, and
	// again after SIGKILL, before it counts as a survivor (SPEC §5.2 step 7).
	DefaultStopGrace = 5 * time.Second
	// DefaultHermesDashboardPort is the dashboard's forwarded port and
	// DefaultHermesDashboardInternalPort the port `hermes dashboard` listens on
	// inside the sandbox, when the registry names none.
	DefaultHermesDashboardPort         = sandboxspec.DefaultDashboardPort
	DefaultHermesDashboardInternalPort = 9119
)

// HermesDashboard configures the optional Hermes web dashboard.
type HermesDashboard struct {
	Enabled            bool
	Port, InternalPort int
	// TUI adds --tui to the dashboard command (the registry's
	// hermesDashboardTui).
	TUI bool
}

// Params is everything one rendering depends on.
type Params struct {
	Agent Agent
	Mode  Mode
	Check bool // diagnose: report what would change, change nothing
	Port  int  // the dashboard port (agent profiles already carry it in their command)
	RunID string
	// Deadline is the payload's own budget, Readiness the wait for the first
	// healthy answer after launch, Settle how long it must then stay up with
	// the same PID. Zero means the default; NoSettle disables the settle hold.
	Deadline, Readiness, Settle time.Duration
	NoSettle                    bool
	// StopGrace is the wait after SIGTERM and again after SIGKILL when
	// stopping stale processes; zero means DefaultStopGrace.
	StopGrace       time.Duration
	HermesDashboard HermesDashboard
}

// OpenClaw is the built-in OpenClaw profile for a dashboard port.
func OpenClaw(port int) Agent {
	p := strconv.Itoa(port)
	return Agent{
		Name:           "openclaw",
		DisplayName:    "OpenClaw",
		GatewayCommand: []string{"openclaw", "gateway", "run", "--port", p},
		HealthURL:      "http://127.0.0.1:" + p + "/health",
		Binary:         "openclaw",
	}
}

// Hermes is the built-in Hermes profile. Its gateway takes no --port.
func Hermes() Agent {
	return Agent{
		Name:           "hermes",
		DisplayName:    "Hermes Agent",
		GatewayCommand: []string{"env", "HERMES_HOME=/sandbox/.hermes", "hermes", "gateway", "run"},
		HealthURL:      "http://localhost:8642/health",
		Binary:         "/usr/local/bin/hermes",
	}
}

//go:embed payload/*.sh.tmpl
var payloadFS embed.FS

var payloadTemplates = template.Must(
	template.New("payload").Option("missingkey=error").ParseFS(payloadFS, "payload/*.sh.tmpl"))

var (
	runIDPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	commandWordChars = regexp.MustCompile(`^[A-Za-z0-9._+-]+$`)
	envAssignment    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
)

// Render validates p and renders the payload. On any invalid input it
// returns an error and no bytes.
func Render(p Params) ([]byte, error) {
	p, err := normalize(p)
	if err != nil {
		return nil, err
	}
	hdr, err := header(p)
	if err != nil {
		return nil, err
	}
	data := templateData(p)
	data["Header"] = hdr
	data["Variant"] = variantName(p)
	var buf bytes.Buffer
	if err := payloadTemplates.ExecuteTemplate(&buf, "payload", data); err != nil {
		return nil, fmt.Errorf("rendering payload: %w", err)
	}
	return compact(buf.Bytes()), nil
}

// templateData selects the code a variant carries: only the chosen agent's,
// mode's and dashboard's functions are rendered (issue 9 item 10). The
// values themselves reach the script through the header only.
func templateData(p Params) map[string]any {
	return map[string]any{
		"Check":         p.Check,
		"OpenClaw":      p.Agent.Name == "openclaw",
		"Hermes":        p.Agent.Name == "hermes",
		"Dashboard":     p.HermesDashboard.Enabled,
		"DashboardOnly": p.Mode == ModeHermesDashboard,
	}
}

// RenderFragment renders one named library template (for example
// "nodeoptions" or "encoding") as the OpenClaw gateway recovery variant
// carries it, so tests can run a single shell function against its Go
// mirror. It is not a payload (no header; comments kept).
func RenderFragment(name string) ([]byte, error) {
	var buf bytes.Buffer
	data := templateData(Params{Agent: OpenClaw(sandboxspec.DefaultDashboardPort), Mode: ModeGateway})
	if err := payloadTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

func variantName(p Params) string {
	v := p.Agent.Name + " " + p.Mode.String()
	if p.Check {
		v += " check"
	}
	return v
}

// normalize fills defaults and validates. Every rule exists because the
// value is baked into a script that runs as root inside the sandbox.
func normalize(p Params) (Params, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	a := p.Agent
	if !sandboxspec.ValidName(a.Name) {
		bad("invalid agent name %q: %s", a.Name, sandboxspec.NameRule)
	}
	if a.DisplayName == "" || len(a.DisplayName) > 64 || !printable(a.DisplayName) {
		bad("invalid agent display name %q: 1-64 printable characters", a.DisplayName)
	}
	if err := validateCommand(a.GatewayCommand); err != nil {
		bad("invalid gateway command: %v", err)
	}
	if err := validateHealthURL(a.HealthURL); err != nil {
		bad("invalid health URL %q: %v", a.HealthURL, err)
	}
	if err := validateBinary(a.Binary); err != nil {
		bad("invalid gateway binary %q: %v", a.Binary, err)
	}
	if p.Port < 1 || p.Port > 65535 {
		bad("invalid port %d: must be 1-65535", p.Port)
	}
	if !runIDPattern.MatchString(p.RunID) {
		bad("invalid run id %q: 1-64 characters of [A-Za-z0-9._-]", p.RunID)
	}
	if p.Mode != ModeGateway && p.Mode != ModeHermesDashboard {
		bad("invalid mode %d", int(p.Mode))
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&p.Deadline, DefaultDeadline)
	def(&p.Readiness, DefaultReadiness)
	def(&p.StopGrace, DefaultStopGrace)
	if p.NoSettle {
		p.Settle = 0
	} else {
		def(&p.Settle, DefaultSettle)
	}
	if p.Deadline < time.Second || p.Deadline > 6*time.Hour {
		bad("invalid deadline %s: must be between 1s and 6h", p.Deadline)
	}
	if p.Readiness < 0 || p.Readiness > p.Deadline {
		bad("invalid readiness budget %s: must be positive and at most the deadline (%s)", p.Readiness, p.Deadline)
	}
	if p.Settle < 0 || p.Settle > 10*time.Minute {
		bad("invalid settle window %s: must be between 0 and 10m", p.Settle)
	}
	if p.StopGrace < 100*time.Millisecond || p.StopGrace > time.Minute {
		bad("invalid stop grace %s: must be between 100ms and 1m", p.StopGrace)
	}
	d := &p.HermesDashboard
	if p.Mode == ModeHermesDashboard {
		d.Enabled = true
	}
	if d.Enabled {
		if a.Name != "hermes" {
			bad("the Hermes dashboard needs the hermes agent, not %q", a.Name)
		}
		if d.Port == 0 {
			d.Port = DefaultHermesDashboardPort
		}
		if d.InternalPort == 0 {
			d.InternalPort = DefaultHermesDashboardInternalPort
		}
		if d.Port < 1 || d.Port > 65535 || d.InternalPort < 1 || d.InternalPort > 65535 {
			bad("invalid Hermes dashboard ports %d/%d: must be 1-65535", d.Port, d.InternalPort)
		}
	}
	if len(errs) > 0 {
		return p, errors.Join(errs...)
	}
	return p, nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

// validateCommand accepts an argv whose first word (after an optional `env`
// and NAME=value assignments) is a plain command name or absolute path.
// Arguments may be any printable text: they are quoted, never interpolated.
func validateCommand(argv []string) error {
	if len(argv) == 0 {
		return errors.New("empty")
	}
	if len(argv) > 64 {
		return errors.New("more than 64 words")
	}
	for _, w := range argv {
		if w == "" || len(w) > 1024 || !printable(w) {
			return fmt.Errorf("word %q is empty, too long or has control characters", w)
		}
	}
	bin := commandBinaryWord(argv)
	if bin < 0 {
		return errors.New("no command after env assignments")
	}
	return validateBinary(argv[bin])
}

// commandBinaryWord is the index of the word that names the program: argv[0],
// or the first word after `env` and its NAME=value assignments.
func commandBinaryWord(argv []string) int {
	if argv[0] != "env" {
		return 0
	}
	for i := 1; i < len(argv); i++ {
		if !envAssignment.MatchString(argv[i]) {
			return i
		}
	}
	return -1
}

func validateBinary(b string) error {
	if b == "" {
		return errors.New("empty")
	}
	if strings.HasPrefix(b, "/") {
		if path.Clean(b) != b || b == "/" {
			return errors.New("absolute path must be clean")
		}
		for _, part := range strings.Split(b[1:], "/") {
			if !commandWordChars.MatchString(part) || part == "." || part == ".." {
				return fmt.Errorf("path component %q: use [A-Za-z0-9._+-]", part)
			}
		}
		return nil
	}
	if !commandWordChars.MatchString(b) || strings.HasPrefix(b, "-") || b == "." || b == ".." {
		return errors.New("use a command name of [A-Za-z0-9._+-] or an absolute path")
	}
	return nil
}

func validateHealthURL(s string) error {
	if s == "" || !printable(s) || strings.ContainsAny(s, " \t") {
		return errors.New("empty or has spaces or control characters")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("scheme must be http or https")
	}
	if u.Hostname() == "" || u.User != nil {
		return errors.New("needs a host and no user info")
	}
	if ps := u.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q out of range", ps)
		}
	}
	return nil
}

// processPattern is the ERE that finds the agent's processes with ps/awk:
// the program's base name, then its subcommand words (those before the first
// option), separated by blanks, then a blank or the end of the command line
// (SPEC §5.2 step 7, NemoClaw's patterns): `hermes gateway run` matches,
// `hermes gateway status` does not. title, when set, is a process title the
// program renames itself to (OpenClaw's `openclaw-gateway`); it must start
// with the base name and matches as an alternative. The first letter is
// bracketed so the pattern never matches a command line that contains the
// pattern itself (grep, pkill, this payload's own argv).
func processPattern(argv []string, title string) string {
	i := commandBinaryWord(argv)
	base := path.Base(argv[i])
	tail := ""
	for _, w := range argv[i+1:] {
		if strings.HasPrefix(w, "-") || !commandWordChars.MatchString(w) {
			break
		}
		tail += "[[:space:]]+" + regexp.QuoteMeta(w)
	}
	if rest, ok := strings.CutPrefix(title, base); ok && rest != "" {
		tail = "(" + tail + "|" + regexp.QuoteMeta(rest) + ")"
	}
	// The base name is plain [A-Za-z0-9._+-] (validateBinary); inside a
	// bracket its first character needs no escape.
	return "[" + base[:1] + "]" + regexp.QuoteMeta(base[1:]) + tail + "([[:space:]]|$)"
}

// openClawTitle is the name the OpenClaw gateway gives its own process.
const openClawTitle = "openclaw-gateway"

// hermesDashboardArgv is the dashboard command (SPEC §5.2, Hermes dashboard).
func hermesDashboardArgv(d HermesDashboard) []string {
	argv := []string{"env", "HERMES_HOME=/sandbox/.hermes", "hermes", "dashboard",
		"--host", "127.0.0.1", "--port", strconv.Itoa(d.InternalPort), "--skip-build", "--no-open"}
	if d.TUI {
		argv = append(argv, "--tui")
	}
	return argv
}

// quoteWords renders argv as a string that `eval "set -- $X"` turns back
// into exactly argv: each word Quote'd, joined by spaces.
func quoteWords(argv []string) string {
	q := make([]string, len(argv))
	for i, w := range argv {
		q[i] = shellquote.Quote(w)
	}
	return strings.Join(q, " ")
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func boolFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// header is the only place data enters the script. A variant's header
// carries only what its code reads.
func header(p Params) (string, error) {
	a := p.Agent
	title := ""
	if a.Name == "openclaw" {
		title = openClawTitle
	}
	type hv struct{ name, value string }
	vars := []hv{
		{"NC_RUN_ID", p.RunID},
		{"NC_AGENT", a.Name},
		{"NC_DISPLAY_NAME", a.DisplayName},
		{"NC_MODE", p.Mode.String()},
		{"NC_CHECK", boolFlag(p.Check)},
		{"NC_PORT", strconv.Itoa(p.Port)},
		{"NC_GATEWAY_PATTERN", processPattern(a.GatewayCommand, title)},
		{"NC_HEALTH_URL", a.HealthURL},
		{"NC_DEADLINE_MS", ms(p.Deadline)},
	}
	if !p.Check {
		vars = append(vars,
			hv{"NC_READINESS_MS", ms(p.Readiness)},
			hv{"NC_SETTLE_MS", ms(p.Settle)},
			hv{"NC_STOP_GRACE_MS", ms(p.StopGrace)},
		)
	}
	if p.Mode == ModeGateway {
		vars = append(vars, hv{"NC_GATEWAY_ARGV", quoteWords(a.GatewayCommand)})
	}
	if p.Mode == ModeGateway || !p.Check {
		vars = append(vars, hv{"NC_BINARY", a.Binary})
	}
	if a.Name == "openclaw" && !p.Check {
		// SPEC §5.2 step 10: as root, OpenClaw runs as `gateway` via gosu.
		vars = append(vars, hv{"NC_GOSU_USER", "gateway"})
	}
	if d := p.HermesDashboard; d.Enabled {
		argv := hermesDashboardArgv(d)
		vars = append(vars,
			hv{"NC_DASHBOARD_PORT", strconv.Itoa(d.Port)},
			hv{"NC_DASHBOARD_ARGV", quoteWords(argv)},
			hv{"NC_DASHBOARD_URL", "http://127.0.0.1:" + strconv.Itoa(d.InternalPort) + "/"},
		)
		if !p.Check {
			vars = append(vars, hv{"NC_DASHBOARD_INTERNAL_PORT", strconv.Itoa(d.InternalPort)})
		}
	}
	if a.Name == "hermes" {
		// Stopped on a secret-boundary violation whether or not this run
		// manages the dashboard.
		vars = append(vars, hv{"NC_DASHBOARD_PATTERN", processPattern(hermesDashboardArgv(HermesDashboard{}), "")})
	}
	var b strings.Builder
	for _, v := range vars {
		if strings.IndexByte(v.value, 0) >= 0 {
			return "", fmt.Errorf("%s contains a NUL byte", v.name)
		}
		if v.name == "NC_CHECK" {
			// Code, not this value, differs between check and recovery
			// variants; the value stays for readers of the header.
			b.WriteString("# shellcheck disable=SC2034 # for readers: the variant's code already is the check or the recovery\n")
		}
		if strings.ContainsAny(v.value, "'$`\\") {
			// shellcheck's hints about quotes and $ inside single
			// quotes do not apply to data: literal is the point.
			b.WriteString("# shellcheck disable=SC1003,SC2016 # data from Quote, literal on purpose\n")
		}
		fmt.Fprintf(&b, "readonly %s=%s\n", v.name, shellquote.Quote(v.value))
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
