package host

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
)

// output is how one command prints: JSON on stdout, or styled text whose
// look (colour, box drawing, verbosity) is decided per stream.
type output struct {
	json    bool
	stdout  *recovery.Renderer
	stderr  *recovery.Renderer
	spinner bool // progress on stderr
	errw    io.Writer
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// outputFor reads --json, --color, --quiet and --verbose. --color is
// validated here: a flag a command accepts is a flag it honours.
func (inv *Invocation) outputFor(c *cli.Context) (*output, error) {
	o := &output{json: c.Bool("json"), errw: inv.Stderr}
	mode := c.String("color")
	switch mode {
	case "auto", "always", "never":
	default:
		return o, usageErrorf("%s: invalid --color %q: want auto, always or never", c.Command.Name, mode)
	}
	if c.Bool("quiet") && c.Bool("verbose") {
		return o, usageErrorf("%s: --quiet and --verbose contradict each other", c.Command.Name)
	}
	look := func(w io.Writer) recovery.Look {
		tty := isTerminal(w)
		l := recovery.Look{Box: tty, Verbose: c.Bool("verbose"), Quiet: c.Bool("quiet")}
		switch mode {
		case "always":
			l.Color = true
		case "auto":
			l.Color = tty && inv.Getenv("NO_COLOR") == "" && inv.Getenv("TERM") != "dumb"
		}
		if tty {
			if f, ok := w.(*os.File); ok {
				if width, _, err := term.GetSize(int(f.Fd())); err == nil {
					l.Width = width
				}
			}
		}
		return l
	}
	o.stdout = recovery.NewRenderer(inv.Stdout, look(inv.Stdout))
	o.stderr = recovery.NewRenderer(inv.Stderr, look(inv.Stderr))
	o.spinner = !o.json && !c.Bool("quiet") && isTerminal(inv.Stderr)
	return o, nil
}

// emit prints r (JSON, or the human report on stdout) and turns its exit
// code into the command's.
func (o *output) emit(inv *Invocation, r *recovery.Report) error {
	switch {
	case o.json:
		inv.jsonDone = true
		recovery.WriteJSON(inv.Stdout, r)
	case r.Error != "":
		// An error (a command that could not do its job at all) goes to
		// stderr, as every CLI's does; a run's report, failed or not, is
		// the command's output.
		o.stderr.Report(r)
	default:
		o.stdout.Report(r)
	}
	if r.ExitCode != exitcode.OK {
		return silentError{r.ExitCode}
	}
	return nil
}

// progress starts a spinner on stderr (only on a terminal) and returns the
// function that names what is being waited on, and the one that clears it.
func (o *output) progress() (func(string), func()) {
	if !o.spinner {
		return func(string) {}, func() {}
	}
	var mu sync.Mutex
	what := "starting"
	start := time.Now()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			mu.Lock()
			fmt.Fprintf(o.errw, "\r\033[K  %s %4.1fs  %s", frames[i%len(frames)], time.Since(start).Seconds(), what)
			mu.Unlock()
			select {
			case <-done:
				fmt.Fprint(o.errw, "\r\033[K")
				return
			case <-tick.C:
			}
		}
	}()
	set := func(s string) {
		mu.Lock()
		what = s
		mu.Unlock()
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			close(done)
			<-stopped
		})
	}
	return set, stop
}
