package recovery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
	"github.com/nemoclaw/nemoclaw-go/templates"
)

// Mode is what a run does.
type Mode int

const (
	// ModeRecover repairs: the payload in recovery mode, the forward ensured,
	// the dashboard probed (`recover`, `connect [--probe-only]`).
	ModeRecover Mode = iota
	// ModeStatus verifies and changes nothing: the payload in check mode, the
	// forward inspected and probed.
	ModeStatus
	// ModeDiagnose predicts what ModeRecover would change, and why; it
	// changes nothing in the sandbox or on the host.
	ModeDiagnose
)

func (m Mode) command() string {
	switch m {
	case ModeStatus:
		return "status"
	case ModeDiagnose:
		return "diagnose"
	}
	return "recover"
}

// Target is one sandbox as the host resolved it.
type Target struct {
	Name string
	// CLI is the binary's brand, for the next steps the report suggests.
	CLI             string
	Agent           templates.Agent
	DashboardMarker string
	// Forwards are the ports to forward; the first is the dashboard.
	Forwards []Forward
	// Payload is the rendering's parameters; Run sets Agent, RunID and
	// Check.
	Payload templates.Params
	// ReachHint is a command that checks the sandbox can be reached, for
	// the next step after a transport failure.
	ReachHint string
}

// Deps are the means a run uses, provided by the host.
type Deps struct {
	// Connect opens the run's one transport connection and says what it is
	// (for the transport row).
	Connect func(ctx context.Context) (sandboxexec.Transport, string, error)
	// InspectForward reports what holds a forward's port, probing it, and
	// changes nothing.
	InspectForward func(ctx context.Context, f Forward) ForwardReport
	// EnsureForward keeps a healthy forward of ours (or OpenShell's for
	// this sandbox), replaces a stale one of ours, starts one where there
	// is none, and never touches a foreign listener (exit 4).
	EnsureForward func(ctx context.Context, f Forward) (ForwardReport, error)
}

// Options are the run's choices.
type Options struct {
	Mode  Mode
	RunID string
	// RequireInference makes a broken inference route exit 5 in ModeRecover.
	RequireInference bool
	// KeepTransport hands the connection to the caller (connect's shell)
	// instead of closing it.
	KeepTransport bool
	// Progress, when set, is told what the run is waiting on as that
	// changes (for a spinner).
	Progress func(what string)
}

// Result is a finished run.
type Result struct {
	Report *Report
	// Transport is the run's open connection when Options.KeepTransport
	// was set and it connected; the caller closes it.
	Transport sandboxexec.Transport
}

// Run runs one recover, status or diagnose against t.
func Run(ctx context.Context, t Target, d Deps, o Options) Result {
	started := time.Now()
	r := newReport(o.Mode.command(), o.RunID, t.Name, t.Agent.Name, t.Agent.DisplayName, t.CLI)
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	run := &runState{t: t, d: d, o: o, r: r, progress: progress}
	tr := run.do(ctx)
	r.DurationMS = time.Since(started).Milliseconds()
	if tr != nil && !o.KeepTransport {
		tr.Close()
		tr = nil
	}
	return Result{Report: r, Transport: tr}
}

type runState struct {
	t        Target
	d        Deps
	o        Options
	r        *Report
	progress func(string)
	pay      payloadRun
}

// do runs the steps and returns the open transport (nil when it failed).
func (s *runState) do(ctx context.Context) sandboxexec.Transport {
	r := s.r
	s.progress("connecting to '" + s.t.Name + "'")
	t0 := time.Now()
	tr, desc, err := s.d.Connect(ctx)
	r.Step(RowTransport).DurationMS = time.Since(t0).Milliseconds()
	if err != nil {
		s.transportFailed(ctx, err)
		return nil
	}
	r.set(RowTransport, OK, desc)

	// The forward is inspected while the payload runs: on a healthy
	// sandbox its answer is all the forward step needs, and it costs no
	// time of its own.
	inspected := make(chan []ForwardReport, 1)
	go func() {
		out := make([]ForwardReport, len(s.t.Forwards))
		var wg sync.WaitGroup
		for i, f := range s.t.Forwards {
			wg.Add(1)
			go func() { defer wg.Done(); out[i] = s.d.InspectForward(ctx, f) }()
		}
		wg.Wait()
		inspected <- out
	}()

	s.pay = runPayload(ctx, tr, s.t, s.o, s.progress)
	if !s.judgePayload(ctx) {
		<-inspected
		return tr
	}
	insp := <-inspected
	if !s.gatewayRunning() && s.o.Mode == ModeRecover {
		r.skipRest("the gateway is not running")
		return tr
	}
	// Status and diagnose look at the forward even with the gateway down:
	// whose it is, and what recover would do with it.
	s.forwardAndDashboard(ctx, insp)
	s.inference()
	s.conclude()
	return tr
}

// transportFailed reports a connection that could not be made.
func (s *runState) transportFailed(ctx context.Context, err error) {
	r := s.r
	r.set(RowTransport, Failed, err.Error())
	r.skipRest("the sandbox could not be reached")
	r.ExitCode = exitcode.Of(err)
	switch {
	case r.ExitCode == exitcode.Interrupted || ctx.Err() != nil && errors.Is(err, context.Canceled):
		r.ExitCode, r.Outcome = exitcode.Interrupted, "interrupted"
		r.Summary = "Interrupted: nothing was changed in '" + s.t.Name + "'."
		return
	case r.ExitCode == exitcode.HostKey:
		r.Outcome = "host-key"
	case r.ExitCode == exitcode.Failed:
		r.Outcome = "sandbox-missing"
	case r.ExitCode == exitcode.Usage:
		r.Outcome = "transport-config"
	default:
		r.ExitCode, r.Outcome = exitcode.Unreachable, "unreachable"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		r.ExitCode, r.Outcome = exitcode.Unreachable, "unreachable"
	}
	r.Summary = fmt.Sprintf("Probe failed: could not inspect the %s gateway inside sandbox '%s'.", s.t.Agent.DisplayName, s.t.Name)
	next := ""
	switch r.Outcome {
	case "host-key":
		next = "the sandbox's host key is not the pinned one (named above); if the sandbox was recreated, update that known_hosts line from a trusted source, then run '" + s.t.CLI + " " + s.t.Name + " recover'"
	case "sandbox-missing":
		next = "the sandbox no longer exists; '" + s.t.CLI + " list' shows the registered ones"
	default:
		if s.t.ReachHint != "" {
			next = "check that the sandbox answers: " + s.t.ReachHint
		}
	}
	r.Diagnostics = &Diagnostics{FailingStep: RowTransport, Reason: err.Error(), Next: next}
}

// payloadRun is what the payload did.
type payloadRun struct {
	res       templates.Result
	out       sandboxexec.Outcome
	err       error
	decisions []string // its [gateway-recovery] lines (stderr)
	noise     []string // the last other stderr lines (a shell's own errors)
	checks    map[string][]Check
	durations map[string]int64
}

// rowOf is the table row a payload step belongs to.
func rowOf(step string) string {
	switch step {
	case "safety-net", "ciao", "proxy-env", "guards", "reassert", "secret-boundary":
		return RowGuards
	case "dashboard":
		return RowDashboard
	case "inference":
		return RowInference
	}
	return RowGateway // lock, log, health, stale-processes, binary, launch, settle, ...
}

// runPayload renders the payload and runs it over tr, streaming its events.
func runPayload(ctx context.Context, tr sandboxexec.Transport, t Target, o Options, progress func(string)) payloadRun {
	p := payloadRun{checks: map[string][]Check{}, durations: map[string]int64{}}
	params := t.Payload
	params.Agent = t.Agent
	params.RunID = o.RunID
	params.Check = o.Mode != ModeRecover
	script, err := templates.Render(params)
	if err != nil {
		p.err = fmt.Errorf("rendering the payload: %w", err)
		return p
	}
	progress("running the recovery payload")
	if params.Check {
		progress("inspecting the sandbox")
	}
	last := time.Now()
	var mu sync.Mutex
	col := templates.NewCollector(o.RunID, func(ev templates.Event) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		switch ev.Name {
		case "step":
			name := ev.Fields["step"]
			row := rowOf(name)
			p.checks[row] = append(p.checks[row], Check{Name: name, Status: Status(ev.Fields["status"]), Detail: ev.Fields["detail"]})
			p.durations[row] += now.Sub(last).Milliseconds()
			last = now
			progress(stepProgress(name))
		case "progress":
			progress(ev.Fields["detail"])
		}
	})
	stderr := &decisionWriter{}
	cmd := sandboxexec.Command{Stdout: col, Stderr: stderr}
	if _, execOnly := tr.(*sandboxexec.OpenShellExecTransport); execOnly {
		// OpenShell's exec does not pass stdin reliably; the script
		// travels in argv instead (base64, see sandboxexec).
		cmd.Script = string(script)
	} else {
		cmd.Script = "sh -s"
		cmd.Stdin = bytes.NewReader(script)
	}
	p.out, p.err = tr.Run(ctx, cmd)
	mu.Lock()
	p.res = col.Result()
	mu.Unlock()
	stderr.flush()
	p.decisions, p.noise = stderr.decisions, stderr.noise
	return p
}

// stepProgress is what the spinner says once a payload step is done.
func stepProgress(done string) string {
	switch rowOf(done) {
	case RowGuards:
		return "checking the guard chain"
	case RowDashboard:
		return "checking the dashboard"
	case RowInference:
		return "probing inference"
	}
	switch done {
	case "binary", "reassert":
		return "launching the gateway"
	case "launch":
		return "waiting for the gateway to stay up (settle)"
	case "settle", "health":
		return "probing inference"
	}
	return "running the recovery payload"
}

// decisionWriter splits the payload's stderr into its decision lines and
// the rest.
type decisionWriter struct {
	partial   []byte
	decisions []string
	noise     []string
}

const decisionPrefix = "[gateway-recovery] "

func (w *decisionWriter) Write(b []byte) (int, error) {
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > 64<<10 { // a line that never ends is noise
		w.line(string(w.partial))
		w.partial = nil
	}
	return len(b), nil
}

func (w *decisionWriter) flush() {
	if len(w.partial) > 0 {
		w.line(string(w.partial))
		w.partial = nil
	}
}

func (w *decisionWriter) line(l string) {
	l = strings.TrimRight(l, "\r")
	if d, ok := strings.CutPrefix(l, decisionPrefix); ok {
		if len(w.decisions) < 1000 {
			w.decisions = append(w.decisions, d)
		}
		return
	}
	if strings.TrimSpace(l) == "" {
		return
	}
	w.noise = append(w.noise, l)
	if len(w.noise) > 20 {
		w.noise = w.noise[len(w.noise)-20:]
	}
}

// judgePayload fills the guard chain and gateway rows from the payload's
// result; false means the run is over (no result, in progress, failed).
func (s *runState) judgePayload(ctx context.Context) bool {
	r, p := s.r, &s.pay
	for _, row := range []string{RowGuards, RowGateway} {
		st := r.Step(row)
		st.Checks = p.checks[row]
		st.DurationMS = p.durations[row]
	}
	r.decisions = p.decisions
	if pid, err := strconv.Atoi(p.res.GatewayPID); err == nil && pid > 0 || p.res.Log != "" {
		r.Gateway = &Gateway{PID: pid, Log: p.res.Log}
	}
	g := r.Step(RowGuards)
	if len(g.Checks) > 0 {
		g.Status = aggregate(g.Checks)
		g.Detail = guardDetail(g.Status, g.Checks)
	}

	switch {
	case p.err != nil && (errors.Is(p.err, context.Canceled) || ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled)):
		r.ExitCode, r.Outcome = exitcode.Interrupted, "interrupted"
		r.Summary = fmt.Sprintf("Interrupted while the recovery payload ran in '%s'; it stops at its own deadline and releases its lock.", s.t.Name)
		r.set(RowGateway, Unknown, "interrupted")
		r.skipRest("interrupted")
		return false
	case p.err != nil || !p.res.Final || p.out.Kind == sandboxexec.Exited && p.out.Code != templates.ExitStatus(p.res.Outcome):
		s.couldNotInspect()
		return false
	}
	r.Outcome = p.res.Outcome
	switch p.res.Outcome {
	case templates.OutcomeAlreadyRunning, templates.OutcomeRecovered, templates.OutcomeWouldRecover:
		s.gatewayRow()
		return true
	case templates.OutcomeInProgress:
		r.ExitCode = exitcode.InProgress
		r.set(RowGateway, Unknown, "another recovery inside the sandbox holds its lock: "+p.res.Reason)
		r.Summary = fmt.Sprintf("Probe failed: another recovery of '%s' is in progress.", s.t.Name)
		r.skipRest("another recovery is in progress")
		r.Diagnostics = &Diagnostics{FailingStep: RowGateway, Reason: p.res.Reason, Decisions: p.decisions,
			Next: fmt.Sprintf("wait for it to finish; '%s %s status' shows the result", s.t.CLI, s.t.Name)}
		return false
	}
	s.gatewayRow()
	if s.o.Mode == ModeDiagnose || s.o.Mode == ModeStatus {
		// check mode: would-refuse; the rest is still worth showing
		return true
	}
	r.ExitCode = exitcode.Failed
	r.Summary = fmt.Sprintf("Probe failed: %s gateway is not running in '%s' and automatic recovery failed.", s.t.Agent.DisplayName, s.t.Name)
	r.skipRest("the gateway is not running")
	s.failureDiagnostics(RowGateway, p.res.Reason)
	return false
}

// couldNotInspect: the payload gave no (believable) result: exit 3.
func (s *runState) couldNotInspect() {
	r, p := s.r, &s.pay
	r.ExitCode, r.Outcome = exitcode.Unreachable, templates.OutcomeIndeterminate
	reason := p.res.Reason
	switch {
	case p.err != nil:
		reason = p.err.Error()
		if c := exitcode.Of(p.err); c == exitcode.HostKey || c == exitcode.Usage {
			r.ExitCode = c
		}
	case p.res.Final:
		reason = fmt.Sprintf("the payload reported %s but %s", p.res.Outcome, p.out)
	default:
		reason = fmt.Sprintf("%s (the command %s)", reason, p.out)
	}
	r.set(RowGateway, Unknown, reason)
	r.skipRest("the sandbox could not be inspected")
	r.Summary = fmt.Sprintf("Probe failed: could not inspect the %s gateway inside sandbox '%s'.", s.t.Agent.DisplayName, s.t.Name)
	d := &Diagnostics{FailingStep: RowGateway, Reason: reason, Decisions: p.decisions, LogTail: p.noise}
	d.Next = fmt.Sprintf("run the payload by hand to see what the sandbox's shell says: %s debug payload --agent %s | %s %s exec -- sh -s", s.t.CLI, s.t.Agent.Name, s.t.CLI, s.t.Name)
	r.Diagnostics = d
}

// gatewayRow fills the gateway row from the outcome.
func (s *runState) gatewayRow() {
	r, p := s.r, &s.pay
	st := r.Step(RowGateway)
	pid := ""
	if r.Gateway != nil && r.Gateway.PID > 0 {
		pid = fmt.Sprintf("pid %d", r.Gateway.PID)
	}
	launch := checkDetail(st.Checks, "launch")
	health := checkDetail(st.Checks, "health")
	switch p.res.Outcome {
	case templates.OutcomeAlreadyRunning:
		st.Status, st.Detail = OK, joinNonEmpty("running", pid, health)
		if s.o.Mode == ModeDiagnose {
			st.Detail = joinNonEmpty("running", pid, "recover leaves it alone")
		}
	case templates.OutcomeRecovered:
		settle := checkDetail(st.Checks, "settle")
		if strings.HasPrefix(settle, pid+" ") {
			settle = strings.TrimPrefix(settle, pid+" ") // "pid N healthy for 3s"
		}
		st.Status, st.Detail = Changed, joinNonEmpty("relaunched", pid, settle)
	case templates.OutcomeWouldRecover:
		if s.o.Mode == ModeStatus {
			health, _, _ = strings.Cut(health, ";") // not check mode's "would relaunch"
			st.Status, st.Detail = Failed, joinNonEmpty("not running", health)
		} else {
			health, _, _ = strings.Cut(health, ";")
			st.Status, st.Detail = WouldChange, joinNonEmpty("not answering ("+health+")", "recover would relaunch it: "+strings.TrimPrefix(launch, "would launch "))
		}
	default:
		st.Status, st.Detail = Failed, p.res.Reason
		if s.o.Mode == ModeDiagnose {
			st.Detail = "recover would refuse or fail: " + p.res.Reason
		}
	}
}

func (s *runState) gatewayRunning() bool {
	switch s.pay.res.Outcome {
	case templates.OutcomeAlreadyRunning, templates.OutcomeRecovered:
		return true
	}
	return false
}

// forwardAndDashboard ensures (ModeRecover) or inspects the forwards, then
// probes the dashboard through the first.
func (s *runState) forwardAndDashboard(ctx context.Context, insp []ForwardReport) {
	r := s.r
	fwd := r.Step(RowForward)
	t0 := time.Now()
	final := make([]ForwardReport, len(s.t.Forwards))
	var firstErr error
	for i, f := range s.t.Forwards {
		rep := insp[i]
		var err error
		if s.o.Mode == ModeRecover && rep.State != ForwardHealthy {
			s.progress(fmt.Sprintf("starting the %s forward on 127.0.0.1:%d", f.Purpose, f.Local))
			rep, err = s.d.EnsureForward(ctx, f)
		}
		final[i] = rep
		fwd.Checks = append(fwd.Checks, forwardCheck(s.o.Mode, s.gatewayRunning(), f, rep, err))
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	fwd.DurationMS = time.Since(t0).Milliseconds()
	fwd.Status = aggregate(fwd.Checks)
	switch fwd.Status {
	case OK, Unknown:
		fwd.Detail = details(fwd.Checks, fwd.Status)
	case Changed:
		fwd.Detail = details(fwd.Checks, Changed)
	case WouldChange:
		fwd.Detail = details(fwd.Checks, WouldChange)
	default:
		fwd.Detail = details(fwd.Checks, Failed)
	}

	dash := r.Step(RowDashboard)
	dash.Checks = append(dash.Checks, s.pay.checks[RowDashboard]...)
	first := final[0]
	switch {
	case !s.gatewayRunning() && s.o.Mode == ModeDiagnose:
		dash.Status, dash.Detail = Skipped, "probed once recover has relaunched the gateway"
	case !s.gatewayRunning():
		dash.Status, dash.Detail = Failed, "cannot answer: the gateway is not running"
	case first.State != ForwardHealthy && !(s.o.Mode == ModeRecover && firstErr == nil && first.URL != ""):
		dash.Status, dash.Detail = Skipped, "no working forward to probe through"
		if fwd.Status == WouldChange {
			dash.Detail = "probed once recover has started the forward"
		}
	default:
		s.progress("probing the dashboard")
		t1 := time.Now()
		probe := ProbeDashboard(ctx, s.t.Forwards[0].Local, s.t.DashboardMarker)
		dash.DurationMS = time.Since(t1).Milliseconds()
		desc := probe.describe(s.t.Forwards[0].Local, s.t.DashboardMarker)
		if probe.Answered() {
			dash.Checks = append(dash.Checks, Check{Name: "probe", Status: OK, Detail: desc})
			r.DashboardURL = URLFor(s.t.Forwards[0].Local)
		} else {
			dash.Checks = append(dash.Checks, Check{Name: "probe", Status: Failed, Detail: desc})
		}
		dash.Status = aggregate(dash.Checks)
		if dash.Status == Failed {
			dash.Detail = details(dash.Checks, Failed)
		} else {
			dash.Detail = desc
			if c := details(dash.Checks, Changed); c != "" {
				dash.Detail = c + "; " + desc
			}
		}
	}
	if firstErr != nil && errors.Is(firstErr, context.Canceled) {
		r.ExitCode, r.Outcome = exitcode.Interrupted, "interrupted"
	}
	for _, rep := range final {
		if rep.Detail != "" && rep.State != ForwardHealthy && r.Diagnostics == nil {
			r.Diagnostics = &Diagnostics{ForwardLastError: rep.Detail}
		}
	}
}

// forwardCheck is one forwarded port's line in the forward row.
func forwardCheck(m Mode, gatewayUp bool, f Forward, rep ForwardReport, err error) Check {
	name := fmt.Sprintf("%s 127.0.0.1:%d", f.Purpose, f.Local)
	if f.Remote != f.Local {
		name += fmt.Sprintf(" -> %d", f.Remote)
	}
	c := Check{Name: name}
	switch {
	case rep.State == ForwardUnhealthy && !gatewayUp && m != ModeRecover:
		// Ours and running; nothing can answer through it until the
		// gateway does, and recover keeps it then.
		c.Status = Unknown
		c.Detail = fmt.Sprintf("%s forward is ours (pid %d); it cannot be verified while the gateway is down", f.Purpose, rep.PID)
		if m == ModeDiagnose {
			c.Status = OK
			c.Detail = fmt.Sprintf("%s forward is ours (pid %d) and serves once the gateway answers; recover keeps it", f.Purpose, rep.PID)
		}
	case err != nil:
		c.Status, c.Detail = Failed, err.Error()
	case rep.State == ForwardHealthy && rep.Action == "" || rep.Action == "kept":
		c.Status, c.Detail = OK, f.Purpose+" forward healthy: "+rep.Summary()
	case rep.State == ForwardHealthy && (rep.Action == "started" || rep.Action == "replaced"):
		verb := "started"
		if rep.Action == "replaced" {
			verb = "replaced a stale one"
		}
		c.Status, c.Detail = Changed, fmt.Sprintf("%s forward %s: %s", f.Purpose, verb, rep.Summary())
	case rep.State == ForwardForeign:
		c.Status, c.Detail = Failed, fmt.Sprintf("%s port 127.0.0.1:%d is %s; left running", f.Purpose, f.Local, rep.Summary())
	case m == ModeDiagnose:
		c.Status = WouldChange
		switch rep.State {
		case ForwardUnhealthy:
			c.Detail = fmt.Sprintf("%s forward (pid %d) does not answer; recover would replace it", f.Purpose, rep.PID)
		case ForwardDead:
			c.Detail = fmt.Sprintf("%s forward's daemon is gone (%s); recover would start a new one", f.Purpose, rep.Detail)
		default:
			c.Detail = fmt.Sprintf("no %s forward on 127.0.0.1:%d; recover would start one", f.Purpose, f.Local)
		}
	default:
		c.Status = Failed
		c.Detail = fmt.Sprintf("%s forward on 127.0.0.1:%d is %s", f.Purpose, f.Local, rep.State)
		if rep.Detail != "" {
			c.Detail += ": " + rep.Detail
		}
	}
	return c
}

// inference fills the inference row from the payload.
func (s *runState) inference() {
	st := s.r.Step(RowInference)
	st.Checks = s.pay.checks[RowInference]
	st.DurationMS = s.pay.durations[RowInference]
	d := checkDetail(st.Checks, "inference")
	switch s.pay.res.Inference {
	case "ok":
		st.Status, st.Detail = OK, d
	case "broken":
		st.Status, st.Detail = Failed, d
		st.Hint = fmt.Sprintf("check the route by hand: %s %s exec -- curl -sk https://inference.local/v1/models", s.t.CLI, s.t.Name)
	default:
		st.Status, st.Detail = Unknown, joinNonEmpty("not probed", d)
	}
}

// conclude sets the exit code, outcome and first line once every row is
// known.
func (s *runState) conclude() {
	r := s.r
	if r.ExitCode == exitcode.Interrupted {
		r.Summary = "Interrupted: the run stopped before it finished in '" + s.t.Name + "'."
		return
	}
	fwd, dash, inf, gw, guards := r.Step(RowForward), r.Step(RowDashboard), r.Step(RowInference), r.Step(RowGateway), r.Step(RowGuards)
	agent, name := s.t.Agent.DisplayName, s.t.Name
	switch s.o.Mode {
	case ModeRecover:
		switch {
		case fwd.Status == Failed:
			r.ExitCode = exitcode.Forward
			r.Summary = fmt.Sprintf("Probe failed: %s gateway is running in '%s', but %s.", agent, name, lowerFirst(fwd.Detail))
			s.failureDiagnostics(RowForward, fwd.Detail)
		case dash.Status == Failed:
			r.ExitCode = exitcode.Forward
			r.Summary = fmt.Sprintf("Probe failed: %s gateway is running in '%s', but its dashboard %s.", agent, name, dash.Detail)
			s.failureDiagnostics(RowDashboard, dash.Detail)
		case r.Outcome == templates.OutcomeRecovered:
			r.Summary = fmt.Sprintf("Probe complete: recovered %s gateway in '%s'.", agent, name)
		case fwd.Status == Changed:
			r.Summary = fmt.Sprintf("Probe complete: %s gateway is running in '%s'; restored dashboard port forward.", agent, name)
		default:
			r.Summary = fmt.Sprintf("Probe complete: %s gateway is running in '%s'.", agent, name)
		}
		if r.ExitCode == 0 && inf.Status == Failed && s.o.RequireInference {
			r.ExitCode = exitcode.Inference
			s.failureDiagnostics(RowInference, inf.Detail)
		}
	case ModeStatus:
		var problems []string
		switch {
		case gw.Status != OK:
			r.ExitCode = exitcode.Failed
			problems = append(problems, "the gateway is not running")
		case fwd.Status != OK:
			r.ExitCode = exitcode.Forward
			problems = append(problems, "the dashboard forward is not healthy")
		case dash.Status != OK:
			r.ExitCode = exitcode.Forward
			problems = append(problems, "the dashboard does not answer through the forward")
		}
		if inf.Status == Failed {
			if r.ExitCode == 0 {
				r.ExitCode = exitcode.Inference
			}
			problems = append(problems, "the inference route is broken")
		}
		if guards.Status == WouldChange || guards.Status == Failed {
			problems = append(problems, "the guard chain in /tmp needs repair")
		}
		if len(problems) == 0 && inf.Status == OK {
			r.Outcome = "healthy"
			r.Summary = fmt.Sprintf("Status: %s gateway is running in '%s', its dashboard answers on %s, inference ok.", agent, name, r.DashboardURL)
		} else {
			r.Outcome = "unhealthy"
			if len(problems) == 0 {
				problems = append(problems, "inference was not verified")
			}
			r.Summary = fmt.Sprintf("Status: %s in '%s': %s.", agent, name, strings.Join(problems, "; "))
		}
		if r.ExitCode != 0 {
			s.failureDiagnostics(firstFailed(r), "")
		}
	case ModeDiagnose:
		s.concludeDiagnose()
	}
}

// concludeDiagnose: the predicted exit code of recover, and what it would
// change.
func (s *runState) concludeDiagnose() {
	r := s.r
	agent, name := s.t.Agent.DisplayName, s.t.Name
	var changes []string
	if s.pay.res.Outcome == templates.OutcomeWouldRefuse {
		r.ExitCode = exitcode.Failed
		r.Summary = fmt.Sprintf("Diagnose: recover would refuse to relaunch the %s gateway in '%s': %s.", agent, name, strings.TrimSuffix(s.pay.res.Reason, "."))
		s.failureDiagnostics(RowGateway, s.pay.res.Reason)
		return
	}
	if r.Step(RowGuards).Status == WouldChange {
		changes = append(changes, "repair the guard chain")
	}
	if r.Step(RowGateway).Status == WouldChange {
		changes = append(changes, "relaunch the "+agent+" gateway")
	}
	fwd := r.Step(RowForward)
	switch fwd.Status {
	case Failed:
		r.ExitCode = exitcode.Forward
		r.Summary = fmt.Sprintf("Diagnose: recover would stop at the forward in '%s': %s.", name, lowerFirst(fwd.Detail))
		s.failureDiagnostics(RowForward, fwd.Detail)
		return
	case WouldChange:
		changes = append(changes, "start the dashboard forward")
	}
	if len(changes) == 0 {
		r.Summary = fmt.Sprintf("Diagnose: recover would change nothing in '%s'; the %s gateway is running.", name, agent)
		return
	}
	r.Summary = fmt.Sprintf("Diagnose: recover would %s in '%s'.", joinAnd(changes), name)
}

// failureDiagnostics fills SPEC §8's diagnostics for a failure at row.
func (s *runState) failureDiagnostics(row, reason string) {
	r, p := s.r, &s.pay
	d := r.Diagnostics
	if d == nil {
		d = &Diagnostics{}
	}
	d.FailingStep, d.Decisions = row, p.decisions
	if reason == "" {
		reason = r.Step(row).Detail
	}
	d.Reason = reason
	if p.res.Diag != nil {
		d.Log = p.res.Diag.Fields["log"]
		d.LogTail = lines(p.res.Diag.Fields["log_tail"], 20)
		d.Processes = lines(p.res.Diag.Fields["ps"], 50)
	} else if r.Gateway != nil {
		d.Log = r.Gateway.Log
	}
	log := d.Log
	if log == "" {
		log = "/tmp/gateway.log"
	}
	cli, name := s.t.CLI, s.t.Name
	switch {
	case s.o.Mode == ModeStatus && row == RowGateway:
		d.Next = fmt.Sprintf("'%s %s recover' relaunches it ('%s %s diagnose' first shows what it would change)", cli, name, cli, name)
		r.Diagnostics = d
		return
	}
	switch row {
	case RowGateway, RowGuards:
		switch p.res.Outcome {
		case templates.OutcomeRefused, templates.OutcomeWouldRefuse:
			d.Next = fmt.Sprintf("the image's trusted preloads could not be restored; '%s %s diagnose' shows each guard-chain decision, and '%s %s exec -- tail -n 50 %s' the log", cli, name, cli, name, log)
		case templates.OutcomeAgentMissing:
			d.Next = fmt.Sprintf("the %s binary is not in the sandbox; check the image ('%s %s exec -- sh -c \"command -v %s\"')", s.t.Agent.DisplayName, cli, name, s.t.Agent.Binary)
		default:
			d.Next = fmt.Sprintf("read the gateway log: %s %s exec -- tail -n 50 %s", cli, name, log)
		}
	case RowForward:
		d.Next = fmt.Sprintf("stop what holds the port (named above), or give '%s' other ports in the registry (dashboardPort; for Hermes hermesApiPort, hermesDashboardPort); '%s forward list' shows our forwards", name, cli)
		if !strings.Contains(reason, "held by") {
			d.Next = fmt.Sprintf("'%s %s forward status' shows the forward daemon and its log", cli, name)
		}
	case RowDashboard:
		d.Next = fmt.Sprintf("the forward works but the gateway's page does not; read the gateway log: %s %s exec -- tail -n 50 %s", cli, name, log)
	case RowInference:
		d.Next = r.Step(RowInference).Hint
	}
	r.Diagnostics = d
}

func firstFailed(r *Report) string {
	for _, st := range r.Steps {
		if st.Status == Failed {
			return st.Name
		}
	}
	return RowGateway
}

// guardDetail sums the guard chain up in one line; --verbose and --json
// carry each check's own detail.
func guardDetail(st Status, checks []Check) string {
	names := func(want Status) string {
		var n []string
		for _, c := range checks {
			if c.Status == want {
				n = append(n, c.Name)
			}
		}
		return strings.Join(n, ", ")
	}
	switch st {
	case OK:
		return "both guards required in NODE_OPTIONS, staged copies verified"
	case Failed:
		return details(checks, Failed)
	case Changed:
		return "restored from the image's trusted preloads: " + names(Changed)
	case WouldChange:
		return "recover would restore from the image's trusted preloads: " + names(WouldChange)
	}
	return ""
}

func checkDetail(checks []Check, name string) string {
	for i := len(checks) - 1; i >= 0; i-- {
		if checks[i].Name == name {
			return checks[i].Detail
		}
	}
	return ""
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

func joinAnd(items []string) string {
	switch len(items) {
	case 1:
		return items[0]
	case 2:
		return items[0] + " and " + items[1]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// lines splits text into at most the last n non-empty lines.
func lines(text string, n int) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			out = append(out, sc.Text())
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

var _ io.Writer = (*decisionWriter)(nil)
