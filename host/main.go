// Package host is the operator-facing side of nemoclaw: it parses the command
// line, resolves sandboxes from the registry, decides what to do, and speaks
// to the user (styled text or JSON) with the exit codes of SPEC §2.3.
//
// It must not know shell or SSH details: those live in templates and
// sandboxexec. Everything it writes goes to the io.Writers of its Invocation,
// so commands run in-process in tests.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/internal/sandboxspec"
)

// Version is set at build time with -ldflags "-X .../host.Version=...".
var Version = "dev"

// Invocation is everything a command may touch of the outside world.
type Invocation struct {
	Brand  Brand
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment; tests substitute their own.
	Getenv func(string) string

	// jsonDone is set once a --json command has printed its one object,
	// so an error after that is not printed as a second one.
	jsonDone bool
}

// Home is the operator's home directory ($HOME), where ~/.nemoclaw lives.
func (inv *Invocation) Home() string {
	if h := inv.Getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

// Brand is what the binary name decides: only the name printed back. The
// agent always comes from the registry, never from the binary (SPEC §2.1):
// NemoClaw writes "agent": null for OpenClaw sandboxes, so `nemohermes`
// recovering one must still run the OpenClaw payload.
type Brand struct {
	Name string // "nemoclaw" or "nemohermes"
}

// BrandFor maps a binary name (argv[0] or the main package's choice) to its
// brand. Anything that is not nemohermes behaves as nemoclaw.
func BrandFor(name string) Brand {
	if strings.HasPrefix(filepath.Base(name), "nemohermes") {
		return Brand{Name: "nemohermes"}
	}
	return Brand{Name: "nemoclaw"}
}

// Main runs one command line and returns the process exit status.
// args[0] is the program name, as in os.Args.
func Main(ctx context.Context, brand string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	inv := &Invocation{
		Brand:  BrandFor(brand),
		Stdin:  stdin,
		Stdout: stdout,
		Stderr: stderr,
		Getenv: os.Getenv,
	}
	return inv.Run(ctx, args)
}

// Run parses args (args[0] is the program name) and runs the command.
func (inv *Invocation) Run(ctx context.Context, args []string) int {
	app := inv.newApp()
	argv, err := normalizeArgs(app, args)
	if err == nil {
		err = app.RunContext(ctx, argv)
	}
	if err != nil && !inv.jsonDone && jsonRequested(args) {
		// --json means one object on stdout for every outcome, a usage
		// error or an unknown sandbox included.
		inv.jsonDone = true
		recovery.WriteJSON(inv.Stdout, errorReport(args, err))
		return exitcode.Of(err)
	}
	if err != nil {
		inv.reportError(err)
	}
	return exitcode.Of(err)
}

// jsonRequested reports whether --json is on the line (before any `--`).
func jsonRequested(args []string) bool {
	for _, a := range args[1:] {
		switch a {
		case "--":
			return false
		case "--json", "--json=true", "-json":
			return true
		}
	}
	return false
}

// errorReport is the JSON object of a command that failed before it could
// report by itself.
func errorReport(args []string, err error) *recovery.Report {
	var pos []string
	for _, a := range args[1:] {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
		}
	}
	command, sandbox := "", ""
	switch {
	case len(pos) >= 2 && sandboxspec.ValidName(pos[0]) && !isGlobalWord(pos[0]):
		sandbox, command = pos[0], pos[1]
	case len(pos) == 1 && sandboxspec.ValidName(pos[0]) && !isGlobalWord(pos[0]):
		sandbox, command = pos[0], "connect"
	case len(pos) > 0:
		command = strings.Join(pos, " ")
	}
	return recovery.ErrorReport(command, sandbox, errorOutcome(err), exitcode.Of(err), err)
}

// errorOutcome names, for --json, why a command ended before it ran.
func errorOutcome(err error) string {
	var pe *registry.ParseError
	var re *registry.ReadError
	switch {
	case errors.As(err, &pe) || errors.As(err, &re):
		return "invalid-registry"
	case exitcode.Of(err) == exitcode.Usage:
		return "usage-error"
	case errors.As(err, new(*unknownSandbox)):
		return "unknown-sandbox"
	case exitcode.Of(err) == exitcode.Interrupted:
		return "interrupted"
	}
	return "failed"
}

// isGlobalWord: the first word names a global command, not a sandbox.
func isGlobalWord(w string) bool {
	switch w {
	case "list", "status", "recover", "forward", "debug", "version", "help", "h":
		return true
	}
	return false
}

func (inv *Invocation) reportError(err error) {
	if isSilent(err) {
		return
	}
	fmt.Fprintf(inv.Stderr, "%s: %v\n", inv.Brand.Name, err)
	if h := hintOf(err); h != "" {
		fmt.Fprintf(inv.Stderr, "  Next: %s\n", h)
	}
}

// silentError is an error whose message was already shown to the user (a
// command's own report); only its exit code matters.
type silentError struct{ code int }

func (e silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }
func (e silentError) ExitCode() int { return e.code }

func isSilent(err error) bool {
	_, ok := err.(silentError)
	return ok
}

// commonFlags are accepted by every command, before or after positionals
// (SPEC §2.2). They are defined per command, not on the app, because the
// argv normaliser places all flags after the command words.
func commonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "json", Usage: "machine-readable output on stdout"},
		&cli.StringFlag{Name: "color", Value: "auto", Usage: "auto|always|never (NO_COLOR is respected)"},
		&cli.DurationFlag{Name: "timeout", Usage: "overall time budget"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only failures"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print more detail"},
	}
}

// newApp builds the command tree for one run. urfave/cli v2 keeps its help
// and version flags in package variables that every parse writes to, so two
// runs in one process (tests, recover --all) would race on them: each app
// hides urfave's and carries fresh flags of its own instead (helpFlag, the
// root's --version), with the same names, so urfave's own help printing
// still answers --help.
func (inv *Invocation) newApp() *cli.App {
	app := &cli.App{
		Name:                   inv.Brand.Name,
		Usage:                  "recover AI-agent sandboxes: guard chain, gateway, dashboard forward",
		Version:                Version,
		Reader:                 inv.Stdin,
		Writer:                 inv.Stdout,
		ErrWriter:              inv.Stderr,
		HideHelp:               true,
		HideHelpCommand:        true,
		HideVersion:            true,
		UseShortOptionHandling: false,
		Flags: []cli.Flag{
			helpFlag(),
			&cli.BoolFlag{Name: "version", Usage: "print the version"},
		},
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are ours (exitcode.Of)
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageErrorf("%v", err)
		},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				return inv.printVersion(false)
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			inv.versionCommand(),
			inv.sandboxCommand(),
		},
	}
	app.Commands = append(app.Commands, globalCommands(inv)...)
	app.Commands = append(app.Commands, inv.helpCommand(app))
	for _, c := range app.Commands {
		prepareCommand(c)
	}
	app.UsageText = fmt.Sprintf("%[1]s [flags] <name> <action> [flags]\n%[1]s [flags] <command> [flags]", inv.Brand.Name)
	app.Description = sandboxActionsHelp(inv)
	return app
}

// helpFlag is a fresh --help/-h for one command of one app (see newApp).
func helpFlag() cli.Flag {
	return &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"}
}

// helpCommand is `help [command]`: the app's help, or one command's,
// including the per-sandbox actions (`help recover`).
func (inv *Invocation) helpCommand(app *cli.App) *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the commands, or help for one command",
		ArgsUsage: "[command [subcommand]]",
		Action: func(c *cli.Context) error {
			words := c.Args().Slice()
			if len(words) == 0 {
				return cli.ShowAppHelp(c)
			}
			cmd, path := findHelpTopic(app, inv.Brand.Name, words)
			if cmd == nil {
				return usageErrorf("help: no command or action named %q", strings.Join(words, " "))
			}
			cmd.HelpName = strings.Join(path, " ")
			templ := cli.CommandHelpTemplate
			if len(cmd.Subcommands) > 0 {
				templ = cli.SubcommandHelpTemplate
			}
			cli.HelpPrinter(inv.Stdout, templ, cmd)
			return nil
		},
	}
}

// findHelpTopic finds the command that words name: a global command and its
// subcommands, else a per-sandbox action (optionally after a sandbox name,
// as in `demo forward start`). forward is both, so the global reading wins
// only when it names a command all the way down.
func findHelpTopic(app *cli.App, brand string, words []string) (*cli.Command, []string) {
	walk := func(cmd *cli.Command, path, rest []string) (*cli.Command, []string) {
		for _, w := range rest {
			if cmd == nil {
				return nil, nil
			}
			cmd = cmd.Command(w)
			path = append(path, w)
		}
		return cmd, path
	}
	if g := app.Command(words[0]); g != nil && g.Name != sandboxCommandName {
		if cmd, path := walk(g, []string{brand, words[0]}, words[1:]); cmd != nil {
			return cmd, path
		}
	}
	actions := app.Command(sandboxCommandName)
	if actions.Command(words[0]) == nil && len(words) > 1 {
		words = words[1:] // a sandbox name
	}
	return walk(actions.Command(words[0]), []string{brand, "<name>", words[0]}, words[1:])
}

// sandboxActionsHelp lists the per-sandbox actions for the app's help, since
// they hang off a hidden command.
func sandboxActionsHelp(inv *Invocation) string {
	var b strings.Builder
	b.WriteString("Sandbox actions (<name> <action>; a missing action means connect):")
	for _, a := range sandboxActions(inv) {
		if a.Hidden {
			continue
		}
		fmt.Fprintf(&b, "\n   %-10s %s", a.Name, a.Usage)
	}
	return b.String()
}

// prepareCommand gives every (sub)command its own help flag instead of
// urfave's shared one, and makes its flag errors exit 2.
func prepareCommand(c *cli.Command) {
	c.HideHelp = true
	c.HideHelpCommand = true
	c.Flags = append(c.Flags, helpFlag())
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return usageErrorf("%s: %v", c.Name, err)
	}
	for _, s := range c.Subcommands {
		prepareCommand(s)
	}
}

func (inv *Invocation) versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Flags: commonFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("version: unexpected argument %q", c.Args().First())
			}
			return inv.printVersion(c.Bool("json"))
		},
	}
}

func (inv *Invocation) printVersion(asJSON bool) error {
	if asJSON {
		fmt.Fprintf(inv.Stdout, "{\"name\":%q,\"version\":%q}\n", inv.Brand.Name, Version)
		return nil
	}
	fmt.Fprintf(inv.Stdout, "%s %s\n", inv.Brand.Name, Version)
	return nil
}
