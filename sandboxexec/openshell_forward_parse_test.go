package sandboxexec

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// What owo-colors (OpenShell's colouring crate) writes around a word:
// green() and red() end with "default foreground", bold() with a full reset.
const (
	green   = "\x1b[32m"
	red     = "\x1b[31m"
	fgReset = "\x1b[39m"
)

// openShellTable lays rows out as OpenShell's `forward list` does
// (crates/openshell-cli/src/main.rs): SANDBOX padded to the longest name
// (at least 7), BIND to the longest address (at least 4), PORT to 8, PID to
// 10, then STATUS unpadded.
func openShellTable(rows [][5]string) string {
	nw, bw := 7, 4
	for _, r := range rows {
		nw, bw = max(nw, len(r[0])), max(bw, len(r[1]))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s %-*s %-8s %-10s STATUS\n", nw, "SANDBOX", bw, "BIND", "PORT", "PID")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s %-*s %-8s %-10s %s\n", nw, r[0], bw, r[1], r[2], r[3], r[4])
	}
	return b.String()
}

func TestParseOpenShellForwards(t *testing.T) {
	cases := []struct {
		why  string
		out  string
		want []OpenShellForward
		live []bool
	}{
		{
			why: "running and dead rows, coloured as OpenShell colours them even into a pipe",
			// The exact bytes for two forwards, sorted by sandbox.
			out: "SANDBOX      BIND      PORT     PID        STATUS\n" +
				"demo         127.0.0.1 18789    41236      " + green + "running" + fgReset + "\n" +
				"my-assistant 127.0.0.1 18789    9977       " + red + "dead" + fgReset + "\n",
			want: []OpenShellForward{
				{Sandbox: "demo", Bind: "127.0.0.1", Port: 18789, PID: 41236, Status: "running"},
				{Sandbox: "my-assistant", Bind: "127.0.0.1", Port: 18789, PID: 9977, Status: "dead"},
			},
			live: []bool{true, false},
		},
		{
			why: "the same layout from the table writer, with a wildcard bind and two ports of one sandbox",
			out: openShellTable([][5]string{
				{"hermes-box", "0.0.0.0", "8642", "700", green + "running" + fgReset},
				{"hermes-box", "127.0.0.1", "18789", "701", green + "running" + fgReset},
			}),
			want: []OpenShellForward{
				{Sandbox: "hermes-box", Bind: "0.0.0.0", Port: 8642, PID: 700, Status: "running"},
				{Sandbox: "hermes-box", Bind: "127.0.0.1", Port: 18789, PID: 701, Status: "running"},
			},
			live: []bool{true, true},
		},
		{
			why:  "no forwards: OpenShell prints nothing on stdout (its message goes to stderr)",
			out:  "",
			want: nil,
		},
		{
			why:  "the no-forwards message, should stderr be merged in, is not a row",
			out:  "No active forwards.\n",
			want: nil,
		},
		{
			why: "a CLI from before the BIND column (before March 2026): columns found by the header",
			out: "SANDBOX PORT     PID        STATUS\n" +
				"demo    18789    4242       " + green + "running" + fgReset + "\n",
			want: []OpenShellForward{{Sandbox: "demo", Port: 18789, PID: 4242, Status: "running"}},
			live: []bool{true},
		},
		{
			why: "extra and reordered columns are read by name, not position",
			out: "SANDBOX GATEWAY  PID   BIND      PORT   STATUS   UPTIME\n" +
				"demo    nemoclaw 55    127.0.0.1 18789  active   3h\n",
			want: []OpenShellForward{{Sandbox: "demo", Bind: "127.0.0.1", Port: 18789, PID: 55, Status: "active"}},
			live: []bool{true},
		},
		{
			why: "a sandbox named \"sandbox\" is a row, not a header; CRLF line ends",
			out: "SANDBOX BIND      PORT     PID        STATUS\r\n" +
				"sandbox 127.0.0.1 18789    12         " + green + "running" + fgReset + "\r\n",
			want: []OpenShellForward{{Sandbox: "sandbox", Bind: "127.0.0.1", Port: 18789, PID: 12, Status: "running"}},
			live: []bool{true},
		},
		{
			why: "bold, 256-colour and hyperlink escapes are stripped too; a status of several words stays whole",
			out: "\x1b[1mSANDBOX\x1b[0m BIND      PORT     PID        STATUS\n" +
				"\x1b]8;;http://x\x1b\\demo\x1b]8;;\x1b\\    127.0.0.1 18789    -          \x1b[38;5;196mDead (stale pid)\x1b[0m\n",
			want: []OpenShellForward{{Sandbox: "demo", Bind: "127.0.0.1", Port: 18789, Status: "dead (stale pid)"}},
			live: []bool{false},
		},
		{
			why: "lines that are not rows (a warning, a bad port) are skipped, the rest kept",
			out: openShellTable([][5]string{
				{"demo", "127.0.0.1", "notaport", "1", "running"},
				{"demo", "127.0.0.1", "70000", "1", "running"},
				{"other", "127.0.0.1", "18790", "2", "running"},
			}) + "warning: could not read 1 PID file\n",
			want: []OpenShellForward{{Sandbox: "other", Bind: "127.0.0.1", Port: 18790, PID: 2, Status: "running"}},
			live: []bool{true},
		},
		{
			why:  "a row cut short has no status and is not live",
			out:  "SANDBOX BIND      PORT     PID        STATUS\ndemo    127.0.0.1 18789\n",
			want: []OpenShellForward{{Sandbox: "demo", Bind: "127.0.0.1", Port: 18789}},
			live: []bool{false},
		},
	}
	for _, c := range cases {
		got := parseOpenShellForwards([]byte(c.out))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.why, got, c.want)
			continue
		}
		for i, r := range got {
			if r.Live() != c.live[i] {
				t.Errorf("%s: row %d (%q) Live() = %v", c.why, i, r.Status, r.Live())
			}
		}
	}
}

// `forward list` output comes from another program: whatever it prints,
// the parser returns rows that make sense, and never panics.
func FuzzParseOpenShellForwards(f *testing.F) {
	f.Add([]byte(openShellTable([][5]string{{"demo", "127.0.0.1", "18789", "41236", green + "running" + fgReset}})))
	f.Add([]byte("SANDBOX PORT     PID        STATUS\ndemo    18789    4242       dead\n"))
	f.Add([]byte("SANDBOX GATEWAY PID BIND PORT STATUS UPTIME\nx g 1 b 2 active 3\n"))
	f.Add([]byte("\x1b[1m\x1b]8;;\x07\x1b[\x1b"))
	f.Add([]byte("SANDBOX STATUS\nSANDBOX PORT\n a 1\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, out []byte) {
		for _, r := range parseOpenShellForwards(out) {
			if r.Port < 1 || r.Port > 65535 || r.PID < 0 || r.Sandbox == "" {
				t.Fatalf("row %+v from %q", r, out)
			}
			for _, s := range []string{r.Sandbox, r.Bind, r.Status} {
				if strings.ContainsFunc(s, unicode.IsControl) {
					t.Fatalf("control character left in %q (row %+v) from %q", s, r, out)
				}
			}
			if strings.ContainsFunc(r.Sandbox+r.Bind, unicode.IsSpace) {
				t.Fatalf("a column value holds white space: %+v from %q", r, out)
			}
		}
	})
}
