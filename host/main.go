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
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
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
}

// Home is the operator's home directory ($HOME), where ~/.nemoclaw lives.
func (inv *Invocation) Home() string {
	if h := inv.Getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

// Brand is what the binary name decides: the name printed back, and the
// agent used for sandboxes whose registry entry names none.
type Brand struct {
	Name         string // "nemoclaw" or "nemohermes"
	DefaultAgent string // "openclaw" or "hermes"
}

// BrandFor maps a binary name (argv[0] or the main package's choice) to its
// brand. Anything that is not nemohermes behaves as nemoclaw.
func BrandFor(name string) Brand {
	base := filepath.Base(name)
	if strings.HasPrefix(base, "nemohermes") {
		return Brand{Name: "nemohermes", DefaultAgent: "hermes"}
	}
	return Brand{Name: "nemoclaw", DefaultAgent: "openclaw"}
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
	if err != nil {
		inv.reportError(err)
	}
	return exitcode.Of(err)
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

func (inv *Invocation) newApp() *cli.App {
	app := &cli.App{
		Name:                   inv.Brand.Name,
		Usage:                  "recover AI-agent sandboxes: guard chain, gateway, dashboard forward",
		Version:                Version,
		Reader:                 inv.Stdin,
		Writer:                 inv.Stdout,
		ErrWriter:              inv.Stderr,
		HideHelpCommand:        false,
		UseShortOptionHandling: false,
		ExitErrHandler:         func(*cli.Context, error) {}, // exit codes are ours (exitCode)
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageErrorf("%v", err)
		},
		Commands: []*cli.Command{
			inv.versionCommand(),
			inv.sandboxCommand(),
		},
	}
	for _, c := range globalCommands(inv) {
		app.Commands = append(app.Commands, c)
	}
	for _, c := range app.Commands {
		setUsageHandler(c)
	}
	app.UsageText = fmt.Sprintf("%[1]s [flags] <name> <action> [flags]\n%[1]s [flags] <command> [flags]", inv.Brand.Name)
	app.Description = sandboxActionsHelp(inv)
	return app
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

// setUsageHandler makes flag errors in every (sub)command exit 2.
func setUsageHandler(c *cli.Command) {
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return usageErrorf("%s: %v", c.Name, err)
	}
	for _, s := range c.Subcommands {
		setUsageHandler(s)
	}
}

func (inv *Invocation) versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Flags: commonFlags(),
		Action: func(c *cli.Context) error {
			if c.Bool("json") {
				fmt.Fprintf(inv.Stdout, "{\"name\":%q,\"version\":%q}\n", inv.Brand.Name, Version)
				return nil
			}
			fmt.Fprintf(inv.Stdout, "%s %s\n", inv.Brand.Name, Version)
			return nil
		},
	}
}
