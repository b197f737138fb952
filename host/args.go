package host

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nemoclaw/nemoclaw-go/internal/sandboxspec"
)

// ValidateSandboxName rejects names that could not be a sandbox, before any
// registry, network or remote action happens.
func ValidateSandboxName(name string) error {
	if !sandboxspec.ValidName(name) {
		return usageErrorf("invalid sandbox name %q: %s", name, sandboxspec.NameRule)
	}
	return nil
}

// sandboxCommandName is the hidden command that per-sandbox actions hang
// off. The normaliser rewrites `<name> <action> ...` to
// `sandbox <action> [flags] <name> ...`.
const sandboxCommandName = "sandbox"

// normalizeArgs rewrites the operator's command line into the shape urfave/cli
// v2 parses. urfave stops reading flags at the first positional argument, and
// our grammar puts positionals first (`nemoclaw demo connect --probe-only`),
// so every flag is moved to just after the command words. Everything after a
// literal `--` is passed through untouched (for `exec -- cmd args`).
//
// Which flags take a value is read from the app's own flag definitions, so a
// value is never mistaken for a positional. Unknown flags are kept, and
// urfave rejects them with a usage error (exit 2): no flag is ignored.
func normalizeArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	prog, rest := args[0], args[1:]
	var pass []string
	hasPass := false
	for i, a := range rest {
		if a == "--" {
			pass, rest, hasPass = rest[i+1:], rest[:i], true
			break
		}
	}
	valueFlags := map[string]bool{}
	collectValueFlags(app.Flags, valueFlags)
	for _, c := range app.Commands {
		collectCommandValueFlags(c, valueFlags)
	}

	var flags, pos []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "-" || !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if valueFlags[name] && i+1 < len(rest) {
			flags = append(flags, rest[i+1])
			i++
		}
	}

	for _, f := range flags {
		if f == "--help" || f == "-h" {
			// Help for what the line names, whatever else it says: the
			// action's help, never the action run.
			return helpArgs(app, prog, pos), nil
		}
	}

	out := []string{prog}
	tail := func(positionals []string) []string {
		out = append(out, flags...)
		out = append(out, positionals...)
		if hasPass {
			out = append(out, "--")
			out = append(out, pass...)
		}
		return out
	}
	if len(pos) == 0 {
		return tail(nil), nil
	}
	if pos[0] == "help" || pos[0] == "h" {
		// urfave adds its help command only when the app runs, so it is not
		// in app.Commands yet; hand the line over as typed.
		return args, nil
	}
	if cmd := app.Command(pos[0]); cmd != nil && cmd.Name != sandboxCommandName {
		out = append(out, pos[0])
		j := 1
		for j < len(pos) {
			sub := cmd.Command(pos[j])
			if sub == nil {
				break
			}
			out = append(out, pos[j])
			cmd = sub
			j++
		}
		return tail(pos[j:]), nil
	}

	name := pos[0]
	if err := ValidateSandboxName(name); err != nil {
		return nil, err
	}
	action := "connect"
	j := 1
	if len(pos) > 1 {
		action = pos[1]
		j = 2
	}
	out = append(out, sandboxCommandName, action)
	if cmd := app.Command(sandboxCommandName); cmd != nil {
		if ac := cmd.Command(action); ac != nil {
			for j < len(pos) {
				sub := ac.Command(pos[j])
				if sub == nil {
					break
				}
				out = append(out, pos[j])
				ac = sub
				j++
			}
		}
	}
	return tail(append([]string{name}, pos[j:]...)), nil
}

func collectCommandValueFlags(c *cli.Command, into map[string]bool) {
	collectValueFlags(c.Flags, into)
	for _, s := range c.Subcommands {
		collectCommandValueFlags(s, into)
	}
}

func collectValueFlags(flags []cli.Flag, into map[string]bool) {
	for _, f := range flags {
		if _, isBool := f.(*cli.BoolFlag); isBool {
			continue
		}
		for _, n := range f.Names() {
			into[n] = true
		}
	}
}

// sandboxArgs splits a per-sandbox action's arguments into the sandbox name,
// the remaining positionals, and what followed `--`.
func sandboxArgs(c *cli.Context) (name string, rest, passthrough []string) {
	args := c.Args().Slice()
	if len(args) == 0 {
		return "", nil, nil
	}
	name, args = args[0], args[1:]
	for i, a := range args {
		if a == "--" {
			return name, args[:i], args[i+1:]
		}
	}
	return name, args, nil
}

// helpArgs turns a command line that asked for --help into `help <words>`:
// the command words as typed (findHelpTopic reads a sandbox name in front
// of an action), with connect for a bare name.
func helpArgs(app *cli.App, prog string, pos []string) []string {
	out := []string{prog, "help"}
	if len(pos) == 0 {
		return out
	}
	if app.Command(pos[0]) != nil {
		return append(out, pos...)
	}
	if len(pos) == 1 {
		return append(out, pos[0], "connect")
	}
	return append(out, pos...)
}
