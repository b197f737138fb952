package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nemoclaw/nemoclaw-go/internal/shellquote"
)

// LabGateway is the one OpenShell gateway the test double knows: the name
// NemoClaw gives its gateway. `-g nemoclaw` (or no -g) reaches the lab's
// sandboxes; any other name is an unknown gateway, as in OpenShell.
const LabGateway = "nemoclaw"

// WriteOpenShellShim writes dir/openshell: a TEST DOUBLE of the OpenShell
// CLI, not OpenShell. It implements `sandbox get|list|exec|ssh-config` and
// `forward start|stop|list` for this lab's sandboxes, with OpenShell's
// global `-g/--gateway` (by running `nemoclaw-lab openshell-double`), so the
// OpenShell transport and OpenShell's own forwards can be tested where no
// OpenShell runs. Each run appends its arguments to OpenShellArgvLog(dir),
// so a test can see how it was called. It returns the path written.
func WriteOpenShellShim(dir string, o Options) (string, error) {
	o, err := o.withLocations()
	if err != nil {
		return "", err
	}
	bin, err := resolveLabBinary(o)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	path, err := filepath.Abs(filepath.Join(dir, "openshell"))
	if err != nil {
		return "", err
	}
	script := fmt.Sprintf(`#!/bin/sh
# openshell: TEST DOUBLE written by nemoclaw-lab. This is NOT NVIDIA OpenShell.
# It answers sandbox get|list|exec|ssh-config and forward start|stop|list
# for nemoclaw-lab sandboxes only, and logs its arguments to the file named
# by --argv-log.
exec %s openshell-double --lab-dir %s --home %s --argv-log %s "$@"
`, shellquote.Quote(bin), shellquote.Quote(o.LabDir), shellquote.Quote(o.Home), shellquote.Quote(OpenShellArgvLog(filepath.Dir(path))))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// OpenShellDouble runs one command line of the OpenShell test double (args
// without the program name) and returns its exit status:
//
//	sandbox get <name>                   "Phase: Ready"; exit 1 with "NotFound" when absent
//	sandbox list                         NAME and PHASE columns
//	sandbox exec --name <name> -- cmd... runs cmd as the sandbox user, stdio passed through
//	sandbox ssh-config <name>            an OpenSSH config, Host openshell-<name>
//	forward start [-d|--background] <[bind:]port> <name>
//	                                     a real ssh -L forward (see openshell_forward.go)
//	forward stop <port> [name]           stops it; exit 0 either way, as OpenShell
//	forward list                         SANDBOX BIND PORT PID STATUS, status coloured
//	--version                            says it is a test double
//
// OpenShell's global -g/--gateway <name> is accepted anywhere before `--`.
// The `sandbox` commands and `forward start` resolve it (only LabGateway
// exists); `forward list|stop`, like OpenShell's, read local PID files and
// ignore it.
func OpenShellDouble(ctx context.Context, o Options, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "Error: "+format+"\n", a...)
		return code
	}
	o, err := o.withLocations()
	if err != nil {
		return fail(1, "%v", err)
	}
	gateway, args, err := splitGatewayFlag(args)
	if err != nil {
		return fail(2, "%v", err)
	}
	if len(args) == 1 && (args[0] == "--version" || args[0] == "version") {
		fmt.Fprintln(stdout, "openshell 0.0.0 (nemoclaw-lab test double, not OpenShell)")
		return 0
	}
	if len(args) < 2 || (args[0] != "sandbox" && args[0] != "forward") {
		return fail(2, "openshell test double: unsupported command %q (supported: sandbox get|list|exec|ssh-config, forward start|stop|list)", strings.Join(args, " "))
	}
	knownGateway := func() bool { return gateway == "" || gateway == LabGateway }
	unknownGateway := func() int {
		return fail(1, "Unknown gateway '%s'.\nRegister it first: openshell gateway add <endpoint> --name %s\nOr list available gateways: openshell gateway select", gateway, gateway)
	}
	open := func(name string) (*Sandbox, int) {
		o := o
		o.Name = name
		s, err := Open(o)
		if err != nil {
			if errors.Is(err, ErrNotFound) || ValidateName(name) != nil {
				return nil, fail(1, "status: NotFound, message: \"sandbox '%s' not found\"", name)
			}
			return nil, fail(1, "%v", err)
		}
		return s, 0
	}
	phase := func(s *Sandbox) string {
		if s.running() {
			return "Ready"
		}
		return "Error"
	}
	if args[0] == "forward" {
		switch args[1] {
		case "list":
			if len(args) != 2 {
				return fail(2, "unexpected argument '%s' found", args[2])
			}
			return forwardList(o, stdout, stderr)
		case "stop":
			return forwardStop(o, args[2:], stderr, fail)
		case "start":
			if !knownGateway() {
				return unknownGateway()
			}
			return forwardStart(ctx, o, args[2:], stderr, fail, open)
		}
		return fail(2, "openshell test double: unsupported command %q", strings.Join(args, " "))
	}
	if !knownGateway() {
		return unknownGateway()
	}
	switch args[1] {
	case "get":
		if len(args) != 3 {
			return fail(2, "usage: openshell sandbox get <name>")
		}
		s, code := open(args[2])
		if s == nil {
			return code
		}
		fmt.Fprintf(stdout, "Sandbox:\n\n  Id: nemoclaw-lab-%s\n  Name: %s\n  Namespace: nemoclaw-lab\n  Phase: %s\n", s.Name, s.Name, phase(s))
		return 0
	case "list":
		names, err := List(o)
		if err != nil {
			return fail(1, "%v", err)
		}
		fmt.Fprintf(stdout, "%-32s %s\n", "NAME", "PHASE")
		for _, n := range names {
			if s, _ := open(n); s != nil {
				fmt.Fprintf(stdout, "%-32s %s\n", s.Name, phase(s))
			}
		}
		return 0
	case "ssh-config":
		if len(args) != 3 {
			return fail(2, "usage: openshell sandbox ssh-config <name>")
		}
		s, code := open(args[2])
		if s == nil {
			return code
		}
		cfg, err := os.ReadFile(s.SSHConfig)
		if err != nil {
			return fail(1, "%v", err)
		}
		// Same connection settings under OpenShell's alias; HostKeyAlias
		// keeps the pinned known_hosts entry valid.
		out := strings.Replace(string(cfg), "Host "+s.Host+"\n", "Host openshell-"+s.Name+"\n", 1)
		fmt.Fprint(stdout, out)
		return 0
	case "exec":
		var name string
		rest := args[2:]
		for len(rest) > 0 && rest[0] != "--" {
			switch {
			case rest[0] == "--name" && len(rest) > 1:
				name, rest = rest[1], rest[2:]
			case strings.HasPrefix(rest[0], "--name="):
				name, rest = strings.TrimPrefix(rest[0], "--name="), rest[1:]
			case name == "" && !strings.HasPrefix(rest[0], "-"):
				name, rest = rest[0], rest[1:]
			default:
				return fail(2, "openshell sandbox exec: unexpected argument %q", rest[0])
			}
		}
		if len(rest) < 2 || name == "" {
			return fail(2, "usage: openshell sandbox exec --name <name> -- <command> [args...]")
		}
		s, code := open(name)
		if s == nil {
			return code
		}
		status, err := s.Exec(ctx, UserSandbox, rest[1:], stdin, stdout, stderr)
		if err != nil {
			return fail(1, "%v", err)
		}
		return status
	}
	return fail(2, "openshell test double: unsupported command %q", strings.Join(args, " "))
}

// splitGatewayFlag takes OpenShell's global gateway flag out of args, in
// any of clap's spellings (-g NAME, -gNAME, -g=NAME, --gateway NAME,
// --gateway=NAME), anywhere before a `--`.
func splitGatewayFlag(args []string) (string, []string, error) {
	var gateway string
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return gateway, append(rest, args[i:]...), nil
		case a == "-g" || a == "--gateway":
			if i+1 >= len(args) {
				return "", nil, errors.New("a value is required for '--gateway <GATEWAY>' but none was supplied")
			}
			gateway = args[i+1]
			i++
		case strings.HasPrefix(a, "--gateway="):
			gateway = strings.TrimPrefix(a, "--gateway=")
		case strings.HasPrefix(a, "-g") && !strings.HasPrefix(a, "--"):
			gateway = strings.TrimPrefix(strings.TrimPrefix(a, "-g"), "=")
		default:
			rest = append(rest, a)
		}
	}
	return gateway, rest, nil
}
