package templates

import (
	"os/exec"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// TestCompact: what compact drops and what it must keep. Each case says
// why.
func TestCompact(t *testing.T) {
	cases := []struct {
		why      string
		in, want string
	}{
		{"the preamble before the body's `{` is kept as written",
			"#!/bin/sh\n# what this is\n{\n# a comment\n\tx=1\n}\n",
			"#!/bin/sh\n# what this is\n{\nx=1\n}\n"},
		{"indentation, blank lines and comment lines go",
			"{\n\n\t# why\n\tif a; then\n\t\tb\n\tfi\n\n}\n",
			"{\nif a; then\nb\nfi\n}\n"},
		{"a shellcheck directive stays, without its explanation",
			"{\n\t# shellcheck disable=SC2086 # split on purpose\n\tset -- $x\n}\n",
			"{\n# shellcheck disable=SC2086\nset -- $x\n}\n"},
		{"the inside of a multi-line single-quoted string is data",
			"{\nawk '\n\t# not a shell comment\n\t{ print }'\n\t# a shell comment\n}\n",
			"{\nawk '\n\t# not a shell comment\n\t{ print }'\n}\n"},
		{"the inside of a multi-line double-quoted string is data",
			"{\nx=\"a\n  # kept\n\"\n}\n",
			"{\nx=\"a\n  # kept\n\"\n}\n"},
		{"quotes closed by a comment do not open a string: `# it's` is a comment",
			"{\n\ty=1 # it's fine\n\t# don't\n\tz='#'\n}\n",
			"{\ny=1 # it's fine\nz='#'\n}\n"},
		{"an escaped quote does not open a string",
			"{\n\tx=\\'\n\t# gone\n}\n",
			"{\nx=\\'\n}\n"},
		{"quotes inside $(...) inside double quotes start afresh",
			"{\n\tx=\"$(tr \"\\\"'\" '  ' <f)\"\n\t# gone\n}\n",
			"{\nx=\"$(tr \"\\\"'\" '  ' <f)\"\n}\n"},
		{"and inside ${...}",
			"{\n\tx=\"${y%%\"$z\"*}\"'\n\t# kept: a single quote is open\n'\n}\n",
			"{\nx=\"${y%%\"$z\"*}\"'\n\t# kept: a single quote is open\n'\n}\n"},
		{"# inside a word is not a comment",
			"{\n\tx=${y#*\"'\"}\n\t# gone\n}\n",
			"{\nx=${y#*\"'\"}\n}\n"},
	}
	for _, c := range cases {
		if got := string(compact([]byte(c.in))); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.why, got, c.want)
		}
	}
}

// TestCompactedVariantsEndUnquoted: the scanner ends every rendered
// variant outside any string, so it never read code as a string's inside
// (or the other way round), and what it dropped were comments: dash runs
// each rendering and the same rendering left whole to the same point.
func TestCompactedVariantsEndUnquoted(t *testing.T) {
	dash := testenv.RequireBinary(t, "dash")
	for name, p := range allVariants() {
		script := render(t, p)
		var q quoteState
		for _, line := range splitLines(script) {
			q = q.scan(line)
		}
		if !q.unquoted() {
			t.Errorf("%s: the scanner ends inside a quoted string", name)
		}
		if out, err := exec.Command(dash, "-n", "-c", string(script)).CombinedOutput(); err != nil {
			t.Errorf("%s: dash -n: %v\n%s", name, err, out)
		}
	}
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i, c := range b {
		if c == '\n' {
			out = append(out, b[start:i+1])
			start = i + 1
		}
	}
	if start < len(b) {
		out = append(out, b[start:])
	}
	return out
}
