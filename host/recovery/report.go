// Package recovery is the engine behind the operator's commands: one run
// of `recover` (≡ `connect --probe-only`), `status` or `diagnose` against
// one sandbox, as a value. A run fills a Report — an ordered table of named
// steps (transport, guard chain, gateway, forward, dashboard, inference),
// each with a status, a detail, a duration and a hint — from the host's own
// steps and the payload's `@nemoclaw` events, and derives the outcome, the
// first line people and scripts know from NemoClaw (SPEC §2.4), and the exit
// code (SPEC §2.3). One human renderer and one JSON renderer (render.go)
// serve every verb.
//
// It decides; it does not parse command lines, read the registry or print
// by itself. The host resolves the sandbox into a Target and hands it the
// means (Deps) to connect and to manage the forward, so the engine runs
// against real transports in production and in tests alike.
package recovery

import (
	_ "embed"
	"strings"

	"github.com/google/uuid"
)

// SchemaVersion is the version of the --json object (README, "JSON
// output"). Adding a field keeps it; renaming or removing one bumps it.
const SchemaVersion = 1

// Status is a step's state.
type Status string

const (
	OK          Status = "ok"
	Changed     Status = "changed"
	Failed      Status = "failed"
	Skipped     Status = "skipped"
	Unknown     Status = "unknown"
	WouldChange Status = "would-change"
)

// The rows of the step table, in order.
const (
	RowTransport = "transport"
	RowGuards    = "guard chain"
	RowGateway   = "gateway"
	RowForward   = "forward"
	RowDashboard = "dashboard"
	RowInference = "inference"
)

// Rows is the table's order.
var Rows = []string{RowTransport, RowGuards, RowGateway, RowForward, RowDashboard, RowInference}

// Step is one row of the table.
type Step struct {
	Name       string  `json:"name"`
	Status     Status  `json:"status"`
	Detail     string  `json:"detail"`
	DurationMS int64   `json:"durationMs"`
	Hint       string  `json:"hint,omitempty"`
	Checks     []Check `json:"checks,omitempty"`
}

// Check is one part of a step: a payload step (`safety-net`, `launch`, ...)
// or one forwarded port. --verbose and --json show them.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
}

// Report is one run's result; its JSON form is the --json object.
type Report struct {
	SchemaVersion int    `json:"schemaVersion"`
	RunID         string `json:"runId"`
	Command       string `json:"command"`
	Sandbox       string `json:"sandbox"`
	Agent         string `json:"agent"`
	// Outcome is the payload's outcome when the payload decided
	// (already-running, recovered, refused, ...), else the host's
	// (unreachable, indeterminate, forward-failed, in-progress, interrupted,
	// usage-error, unknown-sandbox, invalid-registry, ...).
	Outcome  string `json:"outcome"`
	ExitCode int    `json:"exitCode"`
	// Summary is the first line, without its two leading spaces.
	Summary      string   `json:"summary"`
	Gateway      *Gateway `json:"gateway,omitempty"`
	DashboardURL string   `json:"dashboardUrl,omitempty"`
	Steps        []Step   `json:"steps"`
	// Forwards are the forwards a forward verb (or list) reports.
	Forwards    []ForwardReport `json:"forwards,omitempty"`
	Diagnostics *Diagnostics    `json:"diagnostics,omitempty"`
	DurationMS  int64           `json:"durationMs"`
	// Error is set for failures before any step ran (usage, registry).
	Error string `json:"error,omitempty"`

	// What the human view needs and JSON carries elsewhere.
	agentDisplay string
	cli          string
	decisions    []string
	// compact: the summary says it all (forward verbs); no table.
	compact bool
}

// Gateway is what the run learnt of the gateway process.
type Gateway struct {
	PID int    `json:"pid,omitempty"`
	Log string `json:"log,omitempty"`
}

// Diagnostics is what an operator needs after a failure without logging in
// (SPEC §8).
type Diagnostics struct {
	FailingStep      string   `json:"failingStep"`
	Reason           string   `json:"reason"`
	Decisions        []string `json:"decisions,omitempty"`
	Log              string   `json:"log,omitempty"`
	LogTail          []string `json:"logTail,omitempty"`
	Processes        []string `json:"processes,omitempty"`
	ForwardLastError string   `json:"forwardLastError,omitempty"`
	Next             string   `json:"next,omitempty"`
}

// newReport starts a report with every row unknown.
func newReport(command, runID, sandbox, agent, display, cli string) *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		RunID:         runID,
		Command:       command,
		Sandbox:       sandbox,
		Agent:         agent,
		agentDisplay:  display,
		cli:           cli,
	}
	for _, name := range Rows {
		r.Steps = append(r.Steps, Step{Name: name, Status: Unknown})
	}
	return r
}

// ErrorReport is the report of a run that ended before any step: a usage
// error, an unknown sandbox, a registry that does not parse. JSON output
// is one object for every outcome, these included.
func ErrorReport(command, sandbox, outcome string, code int, err error) *Report {
	return &Report{
		SchemaVersion: SchemaVersion,
		RunID:         NewRunID(),
		Command:       command,
		Sandbox:       sandbox,
		Outcome:       outcome,
		ExitCode:      code,
		Summary:       err.Error(),
		Steps:         []Step{},
		Error:         err.Error(),
	}
}

// Compact makes the human view the first line only (and, on failure, why
// and what next): for verbs whose one row would repeat their first line.
func (r *Report) Compact() { r.compact = true }

// Step returns the row named name.
func (r *Report) Step(name string) *Step {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

func (r *Report) set(name string, st Status, detail string) *Step {
	s := r.Step(name)
	s.Status, s.Detail = st, detail
	return s
}

// skipRest marks every row still unknown as skipped, with why.
func (r *Report) skipRest(why string) {
	for i := range r.Steps {
		if r.Steps[i].Status == Unknown {
			r.Steps[i].Status, r.Steps[i].Detail = Skipped, why
		}
	}
}

// aggregate is the status of a row made of checks: failed wins, then
// changed, then would-change, then ok; all skipped is skipped.
func aggregate(checks []Check) Status {
	has := map[Status]bool{}
	for _, c := range checks {
		has[c.Status] = true
	}
	switch {
	case len(checks) == 0:
		return Unknown
	case has[Failed]:
		return Failed
	case has[Changed]:
		return Changed
	case has[WouldChange]:
		return WouldChange
	case has[OK]:
		return OK
	case has[Unknown]:
		return Unknown
	}
	return Skipped
}

// details joins the details of the checks with status st.
func details(checks []Check, st Status) string {
	var parts []string
	for _, c := range checks {
		if c.Status == st && c.Detail != "" {
			parts = append(parts, c.Detail)
		}
	}
	return strings.Join(parts, "; ")
}

// Schema is the JSON Schema of the --json object (report.schema.json): the
// README documents it, and the tests validate every --json output with it.
//
//go:embed report.schema.json
var Schema []byte

// NewRunID is a run's id: a UUID v7 (time-ordered), the random v4 only if
// the clock cannot be read.
func NewRunID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}
