package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeArgs(t *testing.T) {
	app := newApp(strings.NewReader(""), io.Discard, io.Discard)
	cases := []struct {
		why  string
		in   []string
		want []string
	}{
		{"flags after the name move before it, with their values",
			[]string{"lab", "up", "t1", "--agent", "hermes", "--legacy-proxy-env"},
			[]string{"lab", "up", "--agent", "hermes", "--legacy-proxy-env", "t1"}},
		{"a value that looks like a name is not taken for the positional",
			[]string{"lab", "up", "--port", "18790", "t1"},
			[]string{"lab", "up", "--port", "18790", "t1"}},
		{"everything after -- is exec's command, its flags untouched",
			[]string{"lab", "exec", "t1", "--user", "root", "--", "ls", "-la", "--color"},
			[]string{"lab", "exec", "--user", "root", "t1", "--", "ls", "-la", "--color"}},
		{"a flag before the command word keeps its value",
			[]string{"lab", "--lab-dir", "/x", "down", "--all"},
			[]string{"lab", "down", "--lab-dir", "/x", "--all"}},
		{"--flag=value is one word",
			[]string{"lab", "kill-gateway", "t1", "--signal=KILL"},
			[]string{"lab", "kill-gateway", "--signal=KILL", "t1"}},
		{"an unknown command is left for urfave to reject",
			[]string{"lab", "frob", "--x"},
			[]string{"lab", "frob", "--x"}},
	}
	for _, c := range cases {
		got, err := normalizeArgs(app, c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: normalizeArgs(%q) = %q, %v; want %q", c.why, c.in, got, err, c.want)
		}
	}
}
