package templates

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

func TestPctEncodeDecode(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"plain-text_1.2~/:@+,=", "plain-text_1.2~/:@+,="},
		{"a b", "a%20b"},
		{"line1\nline2", "line1%0Aline2"},
		{"100%", "100%25"},
		{"key=v alue", "key=v%20alue"},
		{"é", "%C3%A9"},
	}
	for _, c := range cases {
		if got := PctEncode(c.in); got != c.want {
			t.Errorf("PctEncode(%q) = %q, want %q", c.in, got, c.want)
		}
		back, err := PctDecode(c.want)
		if err != nil || back != c.in {
			t.Errorf("PctDecode(%q) = %q, %v", c.want, back, err)
		}
	}
	for _, bad := range []string{"%", "%4", "%zz", "a b", "a\nb", "\"x\""} {
		if _, err := PctDecode(bad); err == nil {
			t.Errorf("PctDecode(%q) accepted a value the payload never writes", bad)
		}
	}
}

// shPct runs the payload's own nc_pct on each input.
func shPct(t *testing.T, sh string, in []string) []string {
	t.Helper()
	frag, err := RenderFragment("encoding")
	if err != nil {
		t.Fatal(err)
	}
	prog := string(frag) + "\nfor a in \"$@\"; do nc_pct \"$a\"; printf '%s\\n' \"$NC_PCT\"; done\n"
	cmd := exec.Command(sh, append([]string{"-c", "LC_ALL=C\n" + prog, "sh"}, in...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", sh, err)
	}
	got := strings.Split(string(out), "\n")
	return got[:len(got)-1]
}

// FuzzPctEncodeMirrorsShell: the payload's nc_pct (od + awk) and PctEncode
// agree byte for byte, so the host decodes exactly what the payload meant.
func FuzzPctEncodeMirrorsShell(f *testing.F) {
	for _, s := range testenv.AwkwardStrings {
		f.Add(s)
	}
	dash := testenv.RequireBinary(f, "dash")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			t.Skip("argv cannot hold NUL")
		}
		got := shPct(t, dash, []string{s})
		if len(got) != 1 || got[0] != PctEncode(s) {
			t.Fatalf("nc_pct(%q) = %q, PctEncode = %q", s, got, PctEncode(s))
		}
		if back, err := PctDecode(got[0]); err != nil || back != s {
			t.Fatalf("decode(nc_pct(%q)) = %q, %v", s, back, err)
		}
	})
}

func TestPctEncodeMirrorsShellOnEveryByte(t *testing.T) {
	dash := testenv.RequireBinary(t, "dash")
	var all []byte
	for b := 1; b < 256; b++ {
		all = append(all, byte(b))
	}
	// One string holding every byte but NUL (and the newline the helper
	// splits on, checked on its own below).
	in := strings.ReplaceAll(string(all), "\n", "")
	got := shPct(t, dash, []string{in, "a\nb"})
	if got[0] != PctEncode(in) {
		t.Errorf("nc_pct and PctEncode differ:\n sh %s\n go %s", got[0], PctEncode(in))
	}
	if got[1] != "a%0Ab" {
		t.Errorf("nc_pct(a\\nb) = %q", got[1])
	}
	// Printable ASCII takes the shell-only path: every such byte, alone and
	// all together, under dash and under bash (with the payload's LC_ALL=C).
	var printable []string
	all = all[:0]
	for b := 0x20; b < 0x7f; b++ {
		printable = append(printable, string(rune(b)))
		all = append(all, byte(b))
	}
	printable = append(printable, string(all))
	for _, sh := range []string{"dash", "bash"} {
		got := shPct(t, testenv.RequireBinary(t, sh), printable)
		for i, s := range printable {
			if got[i] != PctEncode(s) {
				t.Errorf("%s: nc_pct(%q) = %q, PctEncode %q", sh, s, got[i], PctEncode(s))
			}
		}
	}
}
