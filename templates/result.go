package templates

import (
	"fmt"
	"strings"
)

// Outcomes of a payload run (SPEC §5.4). OutcomeIndeterminate is never sent by
// the payload: the host uses it when no final result line arrived, which
// must never be read as success.
const (
	OutcomeAlreadyRunning        = "already-running"
	OutcomeRecovered             = "recovered"
	OutcomeRefused               = "refused"
	OutcomeFailed                = "failed"
	OutcomeGatewayFailed         = "gateway-failed"
	OutcomeSecretBoundaryRefused = "secret-boundary-refused"
	OutcomeStaleProcesses        = "stale-processes"
	OutcomeAgentMissing          = "agent-missing"
	OutcomeInProgress            = "in-progress"
	OutcomeWouldRecover          = "would-recover"
	OutcomeWouldRefuse           = "would-refuse"
	OutcomeIndeterminate         = "indeterminate"
)

// Step statuses carried by `step` events.
const (
	StatusOK          = "ok"
	StatusChanged     = "changed"
	StatusFailed      = "failed"
	StatusSkipped     = "skipped"
	StatusWouldChange = "would-change"
)

// linePrefix starts every machine line.
const linePrefix = "@nemoclaw "

// Event is one machine line of the payload: `@nemoclaw <run-id> <name>
// key=value ...` with the values already percent-decoded.
type Event struct {
	RunID  string
	Name   string // step, progress, diag, result
	Fields map[string]string
}

// ParseLine parses one stdout line. It returns false for anything that is not
// a well-formed machine line of runID: login banners, rc-file noise, gateway
// output, and lines of another run (which could be a replay or a forgery) are
// all ignored, never guessed at.
func ParseLine(runID, line string) (Event, bool) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	rest, ok := strings.CutPrefix(line, linePrefix)
	if !ok || runID == "" {
		return Event{}, false
	}
	parts := strings.Split(rest, " ")
	if len(parts) < 2 || parts[0] != runID || !validEventName(parts[1]) {
		return Event{}, false
	}
	ev := Event{RunID: runID, Name: parts[1], Fields: map[string]string{}}
	for _, kv := range parts[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !validFieldKey(k) {
			return Event{}, false
		}
		if _, dup := ev.Fields[k]; dup {
			return Event{}, false
		}
		dv, err := PctDecode(v)
		if err != nil {
			return Event{}, false
		}
		ev.Fields[k] = dv
	}
	return ev, true
}

func validEventName(s string) bool {
	switch s {
	case "step", "progress", "diag", "result":
		return true
	}
	return false
}

func validFieldKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

// Result is what one payload run reported.
type Result struct {
	// Outcome is the final event's outcome, or OutcomeIndeterminate when the
	// stream ended without one.
	Outcome    string
	GatewayPID string
	Inference  string // ok, broken or unknown
	Log        string
	Reason     string
	Steps      []Event // step events, in the order received
	Diag       *Event  // the diag event, when the payload sent one
	Final      bool    // a result event was seen
}

// Indeterminate reports whether the run must be treated as "could not
// inspect" (exit 3): no final result line arrived.
func (r Result) Indeterminate() bool { return !r.Final }

// Collector accumulates a payload's stdout, line by line, for one run id. It
// is an io.Writer so a transport can stream into it.
type Collector struct {
	runID    string
	partial  []byte
	result   Result
	progress func(Event)
}

// NewCollector collects the events of runID. onEvent, when non-nil, is called
// for every accepted event as it arrives (progress display).
func NewCollector(runID string, onEvent func(Event)) *Collector {
	return &Collector{runID: runID, progress: onEvent}
}

// Write accepts any chunking of the stream.
func (c *Collector) Write(p []byte) (int, error) {
	c.partial = append(c.partial, p...)
	for {
		i := strings.IndexByte(string(c.partial), '\n')
		if i < 0 {
			break
		}
		c.Line(string(c.partial[:i]))
		c.partial = c.partial[i+1:]
	}
	return len(p), nil
}

// Line feeds one complete line. Only the first result event counts: a later
// one cannot overwrite what the payload already concluded.
func (c *Collector) Line(line string) {
	ev, ok := ParseLine(c.runID, line)
	if !ok || c.result.Final {
		return
	}
	switch ev.Name {
	case "step":
		c.result.Steps = append(c.result.Steps, ev)
	case "diag":
		e := ev
		c.result.Diag = &e
	case "result":
		c.result.Final = true
		c.result.Outcome = ev.Fields["outcome"]
		c.result.GatewayPID = ev.Fields["gateway_pid"]
		c.result.Inference = ev.Fields["inference"]
		c.result.Log = ev.Fields["log"]
		c.result.Reason = ev.Fields["reason"]
	}
	if c.progress != nil {
		c.progress(ev)
	}
}

// Result returns what was collected. A trailing line without a newline is
// parsed too (the stream ended). Without a final result line the outcome is
// OutcomeIndeterminate.
func (c *Collector) Result() Result {
	if len(c.partial) > 0 {
		c.Line(string(c.partial))
		c.partial = nil
	}
	r := c.result
	if !r.Final {
		r.Outcome = OutcomeIndeterminate
		if r.Reason == "" {
			r.Reason = "the payload ended without a result line"
		}
	}
	if r.Inference == "" {
		r.Inference = "unknown"
	}
	return r
}

// ExitStatus is the exit status the payload uses for outcome (0, 75 or 1).
// The host compares it with what the transport reports.
func ExitStatus(outcome string) int {
	switch outcome {
	case OutcomeAlreadyRunning, OutcomeRecovered, OutcomeWouldRecover:
		return 0
	case OutcomeInProgress:
		return 75
	}
	return 1
}

// String is for logs and test failures.
func (e Event) String() string {
	return fmt.Sprintf("%s %v", e.Name, e.Fields)
}
