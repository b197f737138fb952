package sandboxexec

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// OpenShell's own port forwards (SPEC §6, "OpenShell's own forward"):
// `openshell forward start --background <port> <name>` runs an OpenSSH
// `ssh -N -L` child and records it in OpenShell's PID files; `forward list`
// and `forward stop` read those files on this machine. These helpers run the
// two commands the host needs and read the table `forward list` prints.
//
// What OpenShell prints (its CLI, crates/openshell-cli/src/main.rs, the
// `ForwardCommands::List` arm; verified against NVIDIA/OpenShell as of
// mid-2026): a header `SANDBOX BIND PORT PID STATUS`, then one row per PID
// file sorted by sandbox and port, columns left-aligned and separated by
// spaces (SANDBOX at least 7 wide, BIND at least 4, PORT 8, PID 10). STATUS
// is `running` in green (ESC[32m … ESC[39m) when the recorded pid is alive
// and is OpenShell's ssh forward, else `dead` in red, coloured whether or
// not stdout is a terminal. With no forwards it prints `No active forwards.`
// on stderr and nothing on stdout. CLIs before March 2026 had no BIND
// column (`SANDBOX PORT PID STATUS`).

// OpenShellForward is one row of `openshell forward list`.
type OpenShellForward struct {
	Sandbox string
	// Bind is the local address the forward listens on (127.0.0.1 unless
	// it was started with `<addr>:<port>`); empty from CLIs without the
	// BIND column.
	Bind string
	Port int
	// PID is the ssh process OpenShell recorded; 0 when not a number.
	PID int
	// Status is the STATUS column, lower case, colour codes removed:
	// "running" or "dead" from today's OpenShell.
	Status string
}

// Live reports whether OpenShell says the forward is up: status `running`
// (what OpenShell prints after checking that the recorded ssh process is
// alive and is its forward), or `active` (SPEC §6 accepts that wording
// too). Anything else, `dead` included, is not live.
func (f OpenShellForward) Live() bool {
	return f.Status == "running" || f.Status == "active"
}

// OpenShellForwards runs `openshell [-g <gateway>] forward list` with the
// CLI at bin (see ResolveOpenShell) and returns its rows. No forwards is an
// empty list, not an error. A failing CLI is an error carrying OpenShell's
// message.
//
// OpenShell lists every forward tracked on this machine whatever the
// gateway; the gateway flag is passed anyway, as SPEC §6 asks of every call.
func OpenShellForwards(ctx context.Context, bin, gateway string) ([]OpenShellForward, error) {
	res, err := openShellCall(ctx, bin, gateway, "forward", "list")
	if err != nil {
		return nil, fmt.Errorf("listing OpenShell forwards: %w", callFailure(res, err))
	}
	return parseOpenShellForwards(res.stdout), nil
}

// OpenShellForwardStop runs `openshell [-g <gateway>] forward stop <port>
// <sandbox>`. OpenShell exits 0 both when it stopped the forward and when
// it had none for that port and sandbox (it says which on stderr), so a
// caller that must know the port is free checks again afterwards. It
// kills only a process it proves to be its own ssh forward for that
// sandbox and port, and removes the row either way.
func OpenShellForwardStop(ctx context.Context, bin, gateway string, port int, sandbox string) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("stopping OpenShell forward: invalid port %d", port)
	}
	if sandbox == "" || strings.HasPrefix(sandbox, "-") {
		// OpenShell would read a leading dash as a flag.
		return fmt.Errorf("stopping OpenShell forward on port %d: invalid sandbox name %q", port, sandbox)
	}
	res, err := openShellCall(ctx, bin, gateway, "forward", "stop", strconv.Itoa(port), sandbox)
	if err != nil {
		return fmt.Errorf("stopping OpenShell forward of sandbox '%s' on port %d: %w", sandbox, port, callFailure(res, err))
	}
	return nil
}

// callFailure is a failed call as an error: OpenShell's own message when it
// printed one, wrapping the process error (a cancelled context stays
// visible to errors.Is).
func callFailure(res callResult, err error) error {
	if msg := res.message(); msg != "" {
		return &openShellError{msg: msg, err: err}
	}
	return err
}

type openShellError struct {
	msg string
	err error
}

func (e *openShellError) Error() string { return e.msg }
func (e *openShellError) Unwrap() error { return e.err }

// forwardColumns are the column positions of one `forward list` layout.
type forwardColumns struct {
	sandbox, bind, port, pid, status int // -1: no such column
	last                             int // index of the header's last column
}

// currentForwardLayout is today's header, used for rows seen before any
// header (OpenShell prints one whenever it prints rows).
var currentForwardLayout = forwardColumns{sandbox: 0, bind: 1, port: 2, pid: 3, status: 4, last: 4}

// parseOpenShellForwards reads `forward list` output. It strips terminal
// escape sequences, finds columns by the header's names (so a CLI that
// adds, drops or reorders columns is still read right), skips the header,
// blank lines and anything that is not a row (no sandbox, or a port that
// is not 1-65535). When STATUS is the last column, a status of several
// words is kept whole.
func parseOpenShellForwards(out []byte) []OpenShellForward {
	var rows []OpenShellForward
	cols := currentForwardLayout
	for _, line := range strings.Split(stripTerminalEscapes(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if isForwardHeader(f) {
			cols = headerColumns(f)
			continue
		}
		at := func(i int) string {
			if i < 0 || i >= len(f) {
				return ""
			}
			return f[i]
		}
		if cols.sandbox < 0 || cols.port < 0 || at(cols.sandbox) == "" {
			continue
		}
		port, err := strconv.Atoi(at(cols.port))
		if err != nil || port < 1 || port > 65535 {
			continue
		}
		r := OpenShellForward{Sandbox: at(cols.sandbox), Bind: at(cols.bind), Port: port}
		if pid, err := strconv.Atoi(at(cols.pid)); err == nil && pid > 0 {
			r.PID = pid
		}
		r.Status = at(cols.status)
		if cols.status >= 0 && cols.status == cols.last && len(f) > cols.status+1 {
			r.Status = strings.Join(f[cols.status:], " ")
		}
		r.Status = strings.ToLower(r.Status)
		rows = append(rows, r)
	}
	return rows
}

// isForwardHeader: the header is upper case (SANDBOX ... PORT ...), which
// no sandbox name can be, so a sandbox named "sandbox" is still a row.
func isForwardHeader(f []string) bool {
	if f[0] != "SANDBOX" {
		return false
	}
	for _, name := range f[1:] {
		if name == "PORT" {
			return true
		}
	}
	return false
}

// headerColumns maps a header line's names to positions.
func headerColumns(header []string) forwardColumns {
	c := forwardColumns{sandbox: -1, bind: -1, port: -1, pid: -1, status: -1, last: len(header) - 1}
	for i, name := range header {
		switch name {
		case "SANDBOX":
			c.sandbox = i
		case "BIND":
			c.bind = i
		case "PORT":
			c.port = i
		case "PID":
			c.pid = i
		case "STATUS":
			c.status = i
		}
	}
	return c
}

// stripTerminalEscapes removes ANSI/VT escape sequences (CSI such as the
// colour codes OpenShell prints, OSC such as hyperlinks, and two-byte
// escapes), carriage returns and every other control character but tab
// and newline, so columns split on what a terminal would show.
func stripTerminalEscapes(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b:
			i = skipEscape(s, i)
			continue
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r):
			// carriage returns and other controls
		case r == utf8.RuneError && size == 1:
			// An invalid byte is written as U+FFFD, so that dropping a
			// control between two stray bytes cannot join them into a
			// new character.
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// skipEscape returns the index just past the escape sequence at s[i].
func skipEscape(s string, i int) int {
	i++ // ESC
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '[':
		// CSI: parameter and intermediate bytes, then one final byte.
		for i++; i < len(s); i++ {
			if s[i] >= 0x40 && s[i] <= 0x7e {
				return i + 1
			}
		}
		return i
	case ']':
		// OSC: up to BEL or ESC \.
		for i++; i < len(s); i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return i
	default:
		return i + 1 // a two-byte escape
	}
}
