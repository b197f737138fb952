package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// normalizeArgs moves every flag of a command line to just after the command
// word, because urfave/cli v2 stops reading flags at the first positional
// and operators write `nemoclaw-lab up t1 --agent hermes`. Everything after a
// literal `--` is passed through untouched (exec's command). Which flags take
// a value comes from the command's own definitions, so a value is never
// mistaken for a positional; unknown flags are kept for urfave to reject.
func normalizeArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
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
	var cmd *cli.Command
	var flags, pos []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "-" || !strings.HasPrefix(a, "-") {
			if cmd == nil && len(pos) == 0 {
				cmd = app.Command(a)
			}
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if takesValue(app, cmd, name) && i+1 < len(rest) {
			flags = append(flags, rest[i+1])
			i++
		}
	}
	if cmd == nil {
		return args, nil
	}
	out := append([]string{prog, pos[0]}, flags...)
	out = append(out, pos[1:]...)
	if hasPass {
		out = append(out, "--")
		out = append(out, pass...)
	}
	return out, nil
}

// takesValue reports whether flag name takes a value in cmd, or in any
// command while the command word has not been seen yet.
func takesValue(app *cli.App, cmd *cli.Command, name string) bool {
	if cmd == nil {
		for _, c := range app.Commands {
			if takesValue(app, c, name) {
				return true
			}
		}
		return false
	}
	for _, f := range cmd.Flags {
		if _, isBool := f.(*cli.BoolFlag); isBool {
			continue
		}
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}
