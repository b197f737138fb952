package recovery

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/muesli/termenv"
)

// Look is how human output is drawn on one stream.
type Look struct {
	// Color: ANSI colour for statuses. Box: a bordered table (only on a
	// terminal). Width: the terminal's columns (0: do not wrap).
	Color, Box bool
	Width      int
	// Verbose adds each step's checks and the payload's decision lines;
	// Quiet prints only the first line and, on failure, why and what next.
	Verbose, Quiet bool
}

// Renderer draws reports for people on one stream (SPEC §2.4). It holds
// the stream's own lipgloss renderer: colour is decided per stream, never
// from a global.
type Renderer struct {
	w    io.Writer
	look Look
	lg   *lipgloss.Renderer
}

// NewRenderer draws on w with look.
func NewRenderer(w io.Writer, look Look) *Renderer {
	profile := termenv.Ascii
	if look.Color {
		profile = termenv.ANSI256
	}
	lg := lipgloss.NewRenderer(w, termenv.WithProfile(profile))
	// Explicitly: left unset, lipgloss works the profile out from the
	// environment and the stream, which is this function's decision.
	lg.SetColorProfile(profile)
	// Never ask the terminal for its background: that query waits for an
	// answer, and no style here depends on it.
	lg.SetHasDarkBackground(true)
	return &Renderer{w: w, look: look, lg: lg}
}

var statusColor = map[Status]string{
	OK: "2", Changed: "6", Failed: "1", Skipped: "8", Unknown: "3", WouldChange: "3",
}

func (rd *Renderer) status(st Status) string {
	s := string(st)
	if c, ok := statusColor[st]; ok && rd.look.Color {
		style := rd.lg.NewStyle().Foreground(lipgloss.Color(c))
		if st == Failed {
			style = style.Bold(true)
		}
		return style.Render(s)
	}
	return s
}

func (rd *Renderer) bold(s string) string {
	if !rd.look.Color {
		return s
	}
	return rd.lg.NewStyle().Bold(true).Render(s)
}

// Report draws one run: the first line, the step table, and on failure
// the reason, the log's last lines and one next step.
func (rd *Renderer) Report(r *Report) {
	w := rd.w
	fmt.Fprintf(w, "  %s\n", rd.bold(r.Summary))
	failed := r.ExitCode != 0
	if rd.look.Quiet || r.compact {
		if failed {
			rd.failure(r)
		}
		return
	}
	if len(r.Steps) > 0 {
		fmt.Fprintln(w)
		rd.table(r.Steps)
	}
	if r.Command == "forward list" && len(r.Forwards) > 0 {
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(r.Forwards))
		for _, f := range r.Forwards {
			rows = append(rows, []string{f.Sandbox, fmt.Sprint(f.Port), f.State, f.Summary(), ""})
		}
		rd.Grid([]string{"sandbox", "port", "state", "detail", ""}, rows, -1, nil)
	}
	if rd.look.Verbose {
		rd.checks(r)
	}
	if failed {
		rd.failure(r)
		return
	}
	if r.DashboardURL != "" && r.Command == "recover" {
		fmt.Fprintf(w, "\n  Dashboard: %s\n", r.DashboardURL)
		if r.Agent == "openclaw" {
			fmt.Fprintf(w, "  For a login link: %s %s dashboard\n", r.cli, r.Sandbox)
		}
	}
}

// table draws the steps.
func (rd *Renderer) table(steps []Step) {
	rows := make([][]string, 0, len(steps))
	colors := make([]Status, 0, len(steps))
	for _, st := range steps {
		dur := ""
		switch {
		case st.DurationMS >= 1000:
			dur = fmt.Sprintf("%.1fs", float64(st.DurationMS)/1000)
		case st.DurationMS > 0:
			dur = fmt.Sprintf("%dms", st.DurationMS)
		}
		rows = append(rows, []string{st.Name, string(st.Status), st.Detail, dur})
		colors = append(colors, st.Status)
	}
	rd.Grid([]string{"step", "status", "detail", "time"}, rows, 1, colors)
}

// Grid draws rows under headers: a bordered lipgloss table on a terminal,
// plain aligned columns without headers elsewhere (no box drawing off a
// terminal). Column statusCol of row i is coloured as colors[i] (statusCol
// < 0: none). In plain form the last column, when not empty, is put in
// parentheses after the others.
func (rd *Renderer) Grid(headers []string, rows [][]string, statusCol int, colors []Status) {
	if len(rows) == 0 {
		return
	}
	if !rd.look.Box {
		cols := len(headers)
		width := make([]int, cols)
		for _, row := range rows {
			for i := 0; i < cols-2; i++ {
				width[i] = max(width[i], len(row[i]))
			}
		}
		for r, row := range rows {
			var b strings.Builder
			b.WriteString("  ")
			for i := 0; i < cols-2; i++ {
				cell := row[i]
				pad := strings.Repeat(" ", width[i]-len(cell))
				if i == statusCol && r < len(colors) {
					cell = rd.status(colors[r])
				}
				b.WriteString(cell + pad + "  ")
			}
			b.WriteString(row[cols-2])
			if last := row[cols-1]; last != "" {
				b.WriteString(" (" + last + ")")
			}
			fmt.Fprintln(rd.w, strings.TrimRight(b.String(), " "))
		}
		return
	}
	t := table.New().
		Border(lipgloss.RoundedBorder()).
		BorderStyle(rd.lg.NewStyle().Foreground(lipgloss.Color("8"))).
		Headers(headers...).
		Rows(rows...).
		StyleFunc(func(row, col int) lipgloss.Style {
			s := rd.lg.NewStyle().Padding(0, 1)
			if row == table.HeaderRow {
				return s.Bold(rd.look.Color)
			}
			if col == statusCol && row >= 0 && row < len(colors) {
				if c, ok := statusColor[colors[row]]; ok && rd.look.Color {
					s = s.Foreground(lipgloss.Color(c))
				}
			}
			return s
		})
	if rd.look.Width > 0 {
		t = t.Width(rd.look.Width - 2)
	}
	for _, line := range strings.Split(t.Render(), "\n") {
		fmt.Fprintln(rd.w, "  "+line)
	}
}

// checks draws each step's parts and the payload's decisions (--verbose).
func (rd *Renderer) checks(r *Report) {
	for _, st := range r.Steps {
		if len(st.Checks) == 0 {
			continue
		}
		fmt.Fprintf(rd.w, "\n  %s:\n", st.Name)
		for _, c := range st.Checks {
			fmt.Fprintf(rd.w, "    %-16s %s  %s\n", c.Name, rd.status(c.Status), c.Detail)
		}
	}
	if len(r.decisions) > 0 {
		fmt.Fprintf(rd.w, "\n  Payload decisions:\n")
		for _, d := range r.decisions {
			fmt.Fprintf(rd.w, "    %s\n", d)
		}
	}
}

// failure draws SPEC §8's human part: the reason, up to 10 log lines, one
// next step.
func (rd *Renderer) failure(r *Report) {
	d := r.Diagnostics
	if d == nil {
		if r.Error != "" && r.Error != r.Summary {
			fmt.Fprintf(rd.w, "  %s\n", r.Error)
		}
		return
	}
	if d.Reason != "" && !strings.Contains(r.Summary, d.Reason) {
		fmt.Fprintf(rd.w, "\n  Reason: %s\n", d.Reason)
	}
	if tail := lastN(d.LogTail, 10); len(tail) > 0 {
		where := d.Log
		if where == "" {
			where = "the sandbox"
		}
		fmt.Fprintf(rd.w, "\n  Last lines of %s:\n", where)
		for _, l := range tail {
			fmt.Fprintf(rd.w, "    %s\n", l)
		}
	}
	if d.Next != "" {
		fmt.Fprintf(rd.w, "\n  Next: %s\n", d.Next)
	}
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// WriteJSON writes v as the one JSON object of a --json run.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
