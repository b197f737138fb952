package templates

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/internal/shellquote"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

const sn, ci = SafetyNetPreload, CiaoPreload

// nodeOptionsCases say why each NODE_OPTIONS shape exists.
var nodeOptionsCases = []struct {
	why  string
	opts string
	want bool // requires sn
}{
	{"empty", "", false},
	{"--require p", "--require " + sn, true},
	{"--require=p", "--require=" + sn, true},
	{"-r p", "-r " + sn, true},
	{"among other options", "--max-old-space-size=512 --require " + sn + " --enable-source-maps", true},
	{"tabs and newlines separate tokens too", "--require\t" + sn + "\n-r x", true},
	{"substring impostor path", "--require /tmp/not-nemoclaw-sandbox-safety-net.js", false},
	{"impostor with a suffix", "--require " + sn + ".bak", false},
	{"path without a require flag", sn, false},
	{"--require= with a different path", "--require=/tmp/x.js", false},
	{"-r= is not a node form", "-r=" + sn, false},
	{"a glob that would match the path if expanded", "--require /tmp/nemoclaw-sandbox-safety-net.j*", false},
	{"a glob flag", "--requir* " + sn, false},
	{"the path as the value of another flag", "--title " + sn, false},
	{"require at the end without a value", "--enable-source-maps --require", false},
	{"quoted path is not the exact token", "--require \"" + sn + "\"", false},
}

func TestRequiresPreload(t *testing.T) {
	for _, c := range nodeOptionsCases {
		if got := RequiresPreload(c.opts, sn); got != c.want {
			t.Errorf("%s: RequiresPreload(%q) = %v, want %v", c.why, c.opts, got, c.want)
		}
	}
}

func TestMissingPreloadsNeverDuplicates(t *testing.T) {
	cases := []struct {
		why  string
		opts string
		want []string
	}{
		{"nothing required yet: both, in order", "", []string{sn, ci}},
		{"one present in the = form", "--require=" + sn, []string{ci}},
		{"both present in -r form", "-r " + ci + " -r " + sn, nil},
		{"impostors do not count", "--require /tmp/x" + sn + " --require " + ci + "x", []string{sn, ci}},
	}
	for _, c := range cases {
		got := MissingPreloads(c.opts, sn, ci)
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: MissingPreloads(%q) = %q, want %q", c.why, c.opts, got, c.want)
		}
		after := c.opts
		for _, p := range got {
			after = AppendRequire(after, p)
		}
		if !RequiresPreload(after, sn) || !RequiresPreload(after, ci) {
			t.Errorf("%s: after appending, %q misses a guard", c.why, after)
		}
		if again := MissingPreloads(after, sn, ci); len(again) != 0 {
			t.Errorf("%s: a second pass would add %q again", c.why, again)
		}
	}
}

// shRequires runs the payload's nc_requires_preload for (opts, path) pairs
// in one real shell and returns its answers. The payload's own IFS (space,
// tab, newline) is the shell default.
func shRequires(t *testing.T, sh string, pairs [][2]string) []bool {
	t.Helper()
	frag, err := RenderFragment("nodeoptions")
	if err != nil {
		t.Fatal(err)
	}
	prog := string(frag) + `
cd /
while [ "$#" -ge 2 ]; do
	if nc_requires_preload "$1" "$2"; then echo yes; else echo no; fi
	shift 2
done
`
	args := []string{"-c", prog, "sh"}
	for _, p := range pairs {
		args = append(args, p[0], p[1])
	}
	cmd := exec.Command(sh, args...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", sh, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(pairs) {
		t.Fatalf("%s answered %d times for %d pairs: %q", sh, len(lines), len(pairs), out)
	}
	res := make([]bool, len(lines))
	for i, l := range lines {
		res[i] = l == "yes"
	}
	return res
}

func TestShellTokenLogicMatchesGo(t *testing.T) {
	var pairs [][2]string
	for _, c := range nodeOptionsCases {
		pairs = append(pairs, [2]string{c.opts, sn})
	}
	for _, sh := range []string{"dash", "bash"} {
		got := shRequires(t, testenv.RequireBinary(t, sh), pairs)
		for i, c := range nodeOptionsCases {
			if got[i] != c.want {
				t.Errorf("%s: %s: nc_requires_preload(%q) = %v, want %v", sh, c.why, c.opts, got[i], c.want)
			}
		}
	}
}

// TestShellTokenLogicDoesNotExpandGlobs: with files that a glob in
// NODE_OPTIONS would match, the answer still comes from the literal text.
func TestShellTokenLogicDoesNotExpandGlobs(t *testing.T) {
	dash := testenv.RequireBinary(t, "dash")
	frag, err := RenderFragment("nodeoptions")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prog := string(frag) + `
cd "$1" && : >"--require" && : >"target.js"
if nc_requires_preload '--requir* target.j?' target.js; then echo yes; else echo no; fi
if nc_requires_preload '--require t*' target.js; then echo yes; else echo no; fi
case $- in *f*) echo noglob-left-on ;; esac
`
	out, err := exec.Command(dash, "-c", prog, "sh", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "no\nno" {
		t.Fatalf("globs in NODE_OPTIONS were expanded or noglob leaked: %q", out)
	}
}

// FuzzNodeOptionsMirror: the Go mirror and the shell implementation agree on
// every NODE_OPTIONS value, for both guard paths.
func FuzzNodeOptionsMirror(f *testing.F) {
	for _, c := range nodeOptionsCases {
		f.Add(c.opts)
	}
	f.Add("-r " + ci + " --require=" + sn)
	dash := testenv.RequireBinary(f, "dash")
	f.Fuzz(func(t *testing.T, opts string) {
		if strings.IndexByte(opts, 0) >= 0 {
			t.Skip("environment values cannot hold NUL")
		}
		got := shRequires(t, dash, [][2]string{{opts, sn}, {opts, ci}})
		if got[0] != RequiresPreload(opts, sn) || got[1] != RequiresPreload(opts, ci) {
			t.Fatalf("NODE_OPTIONS %q: shell says %v, Go says %v/%v", opts, got, RequiresPreload(opts, sn), RequiresPreload(opts, ci))
		}
	})
}

// TestGeneratedGuardLinesMatchGo: the lines nc_guard_lines writes into the
// recovered env, sourced on top of a NODE_OPTIONS, give what the Go mirror
// predicts: each guard required exactly once.
func TestGeneratedGuardLinesMatchGo(t *testing.T) {
	dash := testenv.RequireBinary(t, "dash")
	var frag []byte
	for _, name := range []string{"nodeoptions", "proxyenv"} {
		b, err := RenderFragment(name)
		if err != nil {
			t.Fatal(err)
		}
		frag = append(frag, b...)
		frag = append(frag, '\n')
	}
	prog := "NC_SAFETY_NET_DST=" + shellquote.Quote(sn) + "\nNC_CIAO_DST=" + shellquote.Quote(ci) + "\nNC_SAFETY_READY=1\nNC_CIAO_READY=1\n" +
		string(frag) + `
lines=$(nc_guard_lines "$1")
NODE_OPTIONS=$1
eval "$lines"
printf '%s' "$NODE_OPTIONS"
`
	for _, c := range append(nodeOptionsCases, struct {
		why  string
		opts string
		want bool
	}{"both already there", "-r " + sn + " --require=" + ci, true}) {
		out, err := exec.Command(dash, "-c", prog, "sh", c.opts).Output()
		if err != nil {
			t.Fatalf("%s: %v", c.why, err)
		}
		want := c.opts
		for _, p := range MissingPreloads(c.opts, sn, ci) {
			want = AppendRequire(want, p)
		}
		if string(out) != want {
			t.Errorf("%s: sourced NODE_OPTIONS %q, Go predicts %q", c.why, out, want)
		}
	}
}

// stripCases say why each inherited NODE_OPTIONS shape exists (issue 9
// item 2: a login shell may have sourced a planted proxy-env).
var stripCases = []struct {
	why     string
	opts    string
	kept    string
	dropped []string
}{
	{"empty", "", "", nil},
	{"nothing that loads code", "--max-old-space-size=256 --enable-source-maps", "--max-old-space-size=256 --enable-source-maps", nil},
	{"--require with its value", "--require /tmp/attacker.js --trace-warnings", "--trace-warnings", []string{"--require /tmp/attacker.js"}},
	{"--require=", "--require=/tmp/a.js -x", "-x", []string{"--require=/tmp/a.js"}},
	{"-r with its value", "-r /tmp/a.js", "", []string{"-r /tmp/a.js"}},
	{"-r glued to its value", "-r/tmp/a.js --x", "--x", []string{"-r/tmp/a.js"}},
	{"-r= is dropped alone", "-r=/tmp/a.js --x", "--x", []string{"-r=/tmp/a.js"}},
	{"--import (ESM)", "--import /tmp/a.mjs", "", []string{"--import /tmp/a.mjs"}},
	{"--loader and --experimental-loader", "--loader ./l.mjs --experimental-loader=./m.mjs", "", []string{"--loader ./l.mjs", "--experimental-loader=./m.mjs"}},
	{"node's underscore spelling", "--experimental_loader /tmp/l.mjs --max_old_space_size=1", "--max_old_space_size=1", []string{"--experimental_loader /tmp/l.mjs"}},
	{"even the guards' own requires: the trusted chain adds them back", "--require " + sn + " -r " + ci, "", []string{"--require " + sn, "-r " + ci}},
	{"a require at the end without a value", "--x --require", "--x", []string{"--require"}},
	{"tabs and newlines separate words too", "--require\t/tmp/a.js\n--x", "--x", []string{"--require /tmp/a.js"}},
	{"globs are words, never expanded", "--require /tmp/*.js /tmp/*", "/tmp/*", []string{"--require /tmp/*.js"}},
	{"a quote makes the words untrustworthy: all of it goes", `--require "/tmp/a b.js" --x`, "", []string{`--require "/tmp/a b.js" --x`}},
	{"so does a backslash", `--require /tmp/a\ b.js`, "", []string{`--require /tmp/a\ b.js`}},
	{"--required is not --require, but -r... is", "--required-x -rx", "--required-x", []string{"-rx"}},
}

func TestStripCodeLoading(t *testing.T) {
	for _, c := range stripCases {
		kept, dropped := StripCodeLoading(c.opts)
		if kept != c.kept || strings.Join(dropped, "|") != strings.Join(c.dropped, "|") {
			t.Errorf("%s: StripCodeLoading(%q) = %q, %q; want %q, %q", c.why, c.opts, kept, dropped, c.kept, c.dropped)
		}
		for _, p := range []string{sn, ci, "/tmp/a.js"} {
			if RequiresPreload(kept, p) {
				t.Errorf("%s: what is kept, %q, still requires %s", c.why, kept, p)
			}
		}
	}
}

// shStrip runs the payload's nc_strip_code_loading on each value in one
// real shell and returns kept and dropped (entries joined by `|`).
func shStrip(t *testing.T, sh string, values []string) [][2]string {
	t.Helper()
	frag, err := RenderFragment("nodeoptions")
	if err != nil {
		t.Fatal(err)
	}
	prog := string(frag) + `
cd /
for v in "$@"; do
	nc_strip_code_loading "$v"
	printf '%s\0%s\0' "$NC_SO_KEPT" "$NC_SO_DROPPED"
done
case $- in *f*) echo noglob-left-on >&2; exit 1 ;; esac
`
	out, err := exec.Command(sh, append([]string{"-c", prog, "sh"}, values...)...).Output()
	if err != nil {
		t.Fatalf("%s: %v", sh, err)
	}
	f := strings.Split(string(out), "\x00")
	if len(f) != 2*len(values)+1 {
		t.Fatalf("%s answered %d fields for %d values", sh, len(f), len(values))
	}
	res := make([][2]string, len(values))
	for i := range values {
		res[i] = [2]string{f[2*i], strings.ReplaceAll(f[2*i+1], "\n", "|")}
	}
	return res
}

func TestShellStripMatchesGo(t *testing.T) {
	var values []string
	for _, c := range stripCases {
		values = append(values, c.opts)
	}
	for _, sh := range []string{"dash", "bash"} {
		got := shStrip(t, testenv.RequireBinary(t, sh), values)
		for i, c := range stripCases {
			kept, dropped := StripCodeLoading(c.opts)
			if got[i][0] != kept || got[i][1] != strings.ReplaceAll(strings.Join(dropped, "|"), "\n", "|") {
				t.Errorf("%s: %s: nc_strip_code_loading(%q) = %q, %q; Go says %q, %q", sh, c.why, c.opts, got[i][0], got[i][1], kept, dropped)
			}
		}
	}
}

// FuzzStripCodeLoadingMirror: the Go mirror and the shell agree on every
// NODE_OPTIONS value.
func FuzzStripCodeLoadingMirror(f *testing.F) {
	for _, c := range stripCases {
		f.Add(c.opts)
	}
	dash := testenv.RequireBinary(f, "dash")
	f.Fuzz(func(t *testing.T, opts string) {
		if strings.IndexByte(opts, 0) >= 0 {
			t.Skip("environment values cannot hold NUL")
		}
		got := shStrip(t, dash, []string{opts})[0]
		kept, dropped := StripCodeLoading(opts)
		if got[0] != kept || got[1] != strings.ReplaceAll(strings.Join(dropped, "|"), "\n", "|") {
			t.Fatalf("NODE_OPTIONS %q: shell says %q, %q; Go says %q, %q", opts, got[0], got[1], kept, dropped)
		}
	})
}
