package templates

import (
	"strings"
	"testing"
)

const rid = "0190f5c2-7a4b-7c3d-9e8f-0123456789ab"

func TestParseLine(t *testing.T) {
	cases := []struct {
		why  string
		line string
		ok   bool
		name string
		key  string
		val  string
	}{
		{"a step line", "@nemoclaw " + rid + " step step=log status=ok detail=logging%20to%20/tmp/gateway.log", true, "step", "detail", "logging to /tmp/gateway.log"},
		{"a result line", "@nemoclaw " + rid + " result outcome=recovered gateway_pid=42 inference=ok log=/tmp/gateway.log reason=", true, "result", "gateway_pid", "42"},
		{"CRLF from a pty is tolerated", "@nemoclaw " + rid + " result outcome=refused reason=x\r", true, "result", "reason", "x"},
		{"newline-encoded log tail", "@nemoclaw " + rid + " diag log_tail=a%0Ab", true, "diag", "log_tail", "a\nb"},
		{"another run's line is ignored (replay or forgery)", "@nemoclaw 11111111-2222-3333-4444-555555555555 result outcome=recovered", false, "", "", ""},
		{"a run id prefix is not the run id", "@nemoclaw " + rid + "x result outcome=recovered", false, "", "", ""},
		{"banner noise", "Welcome to Ubuntu", false, "", "", ""},
		{"gateway output quoting a result", "log: @nemoclaw " + rid + " result outcome=recovered", false, "", "", ""},
		{"unknown event", "@nemoclaw " + rid + " hello a=b", false, "", "", ""},
		{"raw space inside a value forges a field", "@nemoclaw " + rid + " result outcome=refused reason=a b", false, "", "", ""},
		{"bad escape", "@nemoclaw " + rid + " result outcome=recovered reason=%G1", false, "", "", ""},
		{"duplicate key", "@nemoclaw " + rid + " result outcome=refused outcome=recovered", false, "", "", ""},
		{"field without =", "@nemoclaw " + rid + " result outcome", false, "", "", ""},
		{"double space", "@nemoclaw  " + rid + " result outcome=recovered", false, "", "", ""},
	}
	for _, c := range cases {
		ev, ok := ParseLine(rid, c.line)
		if ok != c.ok {
			t.Errorf("%s: ParseLine ok = %v, want %v", c.why, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if ev.Name != c.name || ev.Fields[c.key] != c.val {
			t.Errorf("%s: got %v, want %s with %s=%q", c.why, ev, c.name, c.key, c.val)
		}
	}
	if _, ok := ParseLine("", "@nemoclaw  step a=b"); ok {
		t.Error("an empty run id must match nothing")
	}
}

func TestCollector(t *testing.T) {
	stream := strings.Join([]string{
		"Last login: yesterday",
		"@nemoclaw " + rid + " step step=lock status=ok detail=x",
		"@nemoclaw other-run result outcome=recovered gateway_pid=1 inference=ok log=/x reason=",
		"@nemoclaw " + rid + " progress step=launch detail=waiting",
		"@nemoclaw " + rid + " step step=launch status=changed detail=launched%20pid%207",
		"@nemoclaw " + rid + " result outcome=recovered gateway_pid=7 inference=broken log=/tmp/gateway.log reason=",
		"@nemoclaw " + rid + " result outcome=refused gateway_pid= inference=unknown log=/x reason=late",
	}, "\n") + "\n"
	var seen []string
	c := NewCollector(rid, func(e Event) { seen = append(seen, e.Name) })
	// Feed in awkward chunks: a transport gives no line boundaries.
	for i := 0; i < len(stream); i += 7 {
		end := min(i+7, len(stream))
		if _, err := c.Write([]byte(stream[i:end])); err != nil {
			t.Fatal(err)
		}
	}
	r := c.Result()
	if !r.Final || r.Outcome != OutcomeRecovered || r.GatewayPID != "7" || r.Inference != "broken" || r.Log != "/tmp/gateway.log" {
		t.Fatalf("result = %+v", r)
	}
	if len(r.Steps) != 2 || r.Steps[1].Fields["detail"] != "launched pid 7" {
		t.Fatalf("steps = %v", r.Steps)
	}
	if strings.Join(seen, ",") != "step,progress,step,result" {
		t.Fatalf("events seen = %v (the other run's and the late result must be ignored)", seen)
	}
}

func TestCollectorWithoutFinalLineIsIndeterminate(t *testing.T) {
	cases := []struct {
		why    string
		stream string
	}{
		{"nothing at all (connection dropped before the payload ran)", ""},
		{"steps but no result (killed mid-run)", "@nemoclaw " + rid + " step step=lock status=ok detail=\n"},
		{"a truncated final line", "@nemoclaw " + rid + " result outcome=recov"},
		{"only another run's success", "@nemoclaw deadbeef result outcome=recovered gateway_pid=1 inference=ok log=/x reason=\n"},
		{"noise that looks like success", "recovered\nalready-running\n"},
	}
	for _, cs := range cases {
		c := NewCollector(rid, nil)
		_, _ = c.Write([]byte(cs.stream))
		r := c.Result()
		// "a truncated final line" is parsed as outcome "recov" by the raw
		// parser only if it is well formed; it is, so it is not
		// indeterminate, but it is not a known success either.
		if cs.why == "a truncated final line" {
			if ExitStatus(r.Outcome) == 0 {
				t.Errorf("%s: outcome %q counts as success", cs.why, r.Outcome)
			}
			continue
		}
		if !r.Indeterminate() || r.Outcome != OutcomeIndeterminate {
			t.Errorf("%s: result %+v, want indeterminate", cs.why, r)
		}
		if ExitStatus(r.Outcome) == 0 {
			t.Errorf("%s: indeterminate must never map to success", cs.why)
		}
	}
}

func TestExitStatus(t *testing.T) {
	for o, want := range map[string]int{
		OutcomeAlreadyRunning: 0, OutcomeRecovered: 0, OutcomeWouldRecover: 0,
		OutcomeInProgress: 75, OutcomeRefused: 1, OutcomeWouldRefuse: 1, OutcomeGatewayFailed: 1,
		OutcomeIndeterminate: 1, "": 1,
	} {
		if got := ExitStatus(o); got != want {
			t.Errorf("ExitStatus(%q) = %d, want %d", o, got, want)
		}
	}
}

// FuzzParseLine: no input panics; whatever is accepted belongs to the run,
// and re-encoding the parsed fields gives back a line that parses the same.
func FuzzParseLine(f *testing.F) {
	f.Add("@nemoclaw " + rid + " result outcome=recovered gateway_pid=7 inference=ok log=/tmp/gateway.log reason=")
	f.Add("@nemoclaw " + rid + " diag log_tail=a%0Ab%25 ps=")
	f.Add("@nemoclaw other result outcome=recovered")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := ParseLine(rid, line)
		if !ok {
			return
		}
		if ev.RunID != rid || !strings.HasPrefix(line, "@nemoclaw "+rid+" ") {
			t.Fatalf("accepted a line of another run: %q", line)
		}
		parts := []string{"@nemoclaw", rid, ev.Name}
		for _, kv := range strings.Split(strings.TrimRight(line, "\r\n"), " ")[3:] {
			k, _, _ := strings.Cut(kv, "=")
			parts = append(parts, k+"="+PctEncode(ev.Fields[k]))
		}
		ev2, ok := ParseLine(rid, strings.Join(parts, " "))
		if !ok || len(ev2.Fields) != len(ev.Fields) {
			t.Fatalf("re-encoded line does not parse back: %q", parts)
		}
		for k, v := range ev.Fields {
			if ev2.Fields[k] != v {
				t.Fatalf("field %s: %q then %q", k, v, ev2.Fields[k])
			}
		}
	})
}
