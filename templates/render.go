// Package templates renders the recovery payload: the POSIX sh script that
// runs inside a sandbox, restores the gateway's guard chain from trusted
// image-owned preloads, refuses to launch an unguarded gateway, relaunches
// it, and reports through `@nemoclaw <run-id> ...` result lines (SPEC §5).
//
// It knows shell and the sandbox's paths, and nothing of SSH or of the host:
// it turns validated Params into bytes (Render) and result lines back into
// data (ParseLine, Collector). Every value reaches the script through one
// header of `readonly NAME='...'` lines written by shellquote.Quote; the script body is
// a fixed embedded text (templates/payload/*.sh.tmpl), the same for every
// agent and mode, whose behaviour is selected at run time by those header
// values. Render validates everything first and renders nothing on error.
//
// Decisions where the spec is silent (documented here for reviewers):
//   - Check mode (diagnose) writes nothing at all: it does not take the lock
//     directory (it reports whether a recovery holds it), does not append to
//     the gateway log (what it would log goes to stderr only), never sources
//     anything, and predicts the recovered env from the data it reads.
//   - A /tmp/nemoclaw-proxy-env.sh that is a directory refuses the relaunch
//     (issue 2, case 6): the entrypoint's chain cannot be read or repaired.
//   - A present Hermes validator that cannot be run (not executable and no
//     python3) refuses like a violation: the image asked for the check.
//   - Health probes never use the sandbox proxy (curl --noproxy '*');
//     the inference probe does, as that is how inference.local is reached.
//   - The log is rotated to .1 above 8 MiB. A log the payload creates is
//     0600 (umask 077); the gateway writes to it through the inherited fd.
//   - The deadline is enforced where the payload waits: at every step
//     boundary and in every polling loop; each external command that could
//     block carries its own cap (curl/wget 3 s or 8 s, the validator 30 s
//     under timeout(1), process stops 5+5 s). There is no watchdog process:
//     it would outlive the run or hold the host's channel open.
//   - SIGHUP is ignored (a dropped connection must not abort a recovery
//     half-way); SIGINT and SIGTERM end the run with a `failed` result, the
//     lock released and temporary files removed.
//   - The trusted proxy-env's NODE_OPTIONS is learnt by sourcing the
//     payload's own private copy in a throw-away subshell (the original is
//     never sourced); check mode, which sources nothing, reads its words as
//     data instead.
//   - Sourcing runs with set +u: an entrypoint's env that expands an unset
//     variable must not end the recovery.
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
	HermesDashboard             HermesDashboard
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
	var buf bytes.Buffer
	data := map[string]any{
		"Header":  hdr,
		"Variant": variantName(p),
	}
	if err := payloadTemplates.ExecuteTemplate(&buf, "payload", data); err != nil {
		return nil, fmt.Errorf("rendering payload: %w", err)
	}
	return buf.Bytes(), nil
}

// RenderFragment renders one named library template (for example
// "nodeoptions" or "encoding") with a header, so tests can run a single
// shell function against its Go mirror. It is not a payload.
func RenderFragment(name string) ([]byte, error) {
	var buf bytes.Buffer
	if err := payloadTemplates.ExecuteTemplate(&buf, name, map[string]any{}); err != nil {
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

// processPattern is the ERE that finds the agent's gateway processes with
// ps/pgrep: the program's base name and the next non-option word, joined by
// a space or a dash (OpenClaw titles its process `openclaw-gateway`). The
// first letter is bracketed so the pattern never matches a command line that
// contains the pattern itself (grep, pkill, this payload's own argv).
func processPattern(argv []string) string {
	i := commandBinaryWord(argv)
	words := []string{path.Base(argv[i])}
	if i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") && commandWordChars.MatchString(argv[i+1]) {
		words = append(words, argv[i+1])
	}
	for k, w := range words {
		words[k] = regexp.QuoteMeta(w)
	}
	pat := strings.Join(words, "[ -]")
	// The first byte is a plain [A-Za-z0-9._+] character; QuoteMeta may have
	// escaped it (".", "+"): bracket the unescaped character.
	first := pat[:1]
	rest := pat[1:]
	if first == `\` {
		first, rest = pat[1:2], pat[2:]
	}
	return "[" + first + "]" + rest
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

// header is the only place data enters the script.
func header(p Params) (string, error) {
	a := p.Agent
	gosuUser := ""
	if a.Name == "openclaw" {
		gosuUser = "gateway"
	}
	d := p.HermesDashboard
	dashArgv := []string{"env", "HERMES_HOME=/sandbox/.hermes", "hermes", "dashboard",
		"--host", "127.0.0.1", "--port", strconv.Itoa(d.InternalPort), "--skip-build", "--no-open"}
	vars := []struct{ name, value string }{
		{"NC_RUN_ID", p.RunID},
		{"NC_AGENT", a.Name},
		{"NC_DISPLAY_NAME", a.DisplayName},
		{"NC_MODE", p.Mode.String()},
		{"NC_CHECK", boolFlag(p.Check)},
		{"NC_PORT", strconv.Itoa(p.Port)},
		{"NC_GATEWAY_ARGV", quoteWords(a.GatewayCommand)},
		{"NC_GATEWAY_PATTERN", processPattern(a.GatewayCommand)},
		{"NC_HEALTH_URL", a.HealthURL},
		{"NC_BINARY", a.Binary},
		{"NC_GOSU_USER", gosuUser},
		{"NC_REMOVE_OPENCLAW_LOCKS", boolFlag(a.Name == "openclaw")},
		{"NC_SECRET_BOUNDARY", boolFlag(a.Name == "hermes")},
		{"NC_DEADLINE_MS", ms(p.Deadline)},
		{"NC_READINESS_MS", ms(p.Readiness)},
		{"NC_SETTLE_MS", ms(p.Settle)},
		{"NC_DASHBOARD_ENABLED", boolFlag(d.Enabled)},
		{"NC_DASHBOARD_PORT", strconv.Itoa(d.Port)},
		{"NC_DASHBOARD_INTERNAL_PORT", strconv.Itoa(d.InternalPort)},
		{"NC_DASHBOARD_ARGV", quoteWords(dashArgv)},
		{"NC_DASHBOARD_PATTERN", processPattern(dashArgv)},
		{"NC_DASHBOARD_URL", "http://127.0.0.1:" + strconv.Itoa(d.InternalPort) + "/"},
	}
	var b strings.Builder
	for _, v := range vars {
		if strings.IndexByte(v.value, 0) >= 0 {
			return "", fmt.Errorf("%s contains a NUL byte", v.name)
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
