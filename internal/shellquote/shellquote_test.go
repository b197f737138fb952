package shellquote

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// shPrintf runs every string through `printf %s <Quote(s)>` in one real sh
// and returns what the shell printed for each: the oracle for Quote.
func shPrintf(t *testing.T, sh string, in []string) []string {
	t.Helper()
	var prog strings.Builder
	for _, s := range in {
		prog.WriteString("printf '%s\\0' " + Quote(s) + "\n")
	}
	out, err := exec.Command(sh, "-c", prog.String()).Output()
	if err != nil {
		t.Fatalf("%s: %v", sh, err)
	}
	got := strings.Split(string(out), "\x00")
	return got[:len(got)-1]
}

func TestQuoteRoundTripsThroughRealShells(t *testing.T) {
	for _, sh := range []string{"dash", "bash"} {
		path := testenv.RequireBinary(t, sh)
		got := shPrintf(t, path, testenv.AwkwardStrings)
		if len(got) != len(testenv.AwkwardStrings) {
			t.Fatalf("%s printed %d words for %d inputs", sh, len(got), len(testenv.AwkwardStrings))
		}
		for i, s := range testenv.AwkwardStrings {
			if got[i] != s {
				t.Errorf("%s: Quote(%q) came back as %q", sh, s, got[i])
			}
		}
	}
}

// FuzzQuote: for any string without NUL, a real sh turns Quote(s) back into
// exactly s, and nothing else is executed.
func FuzzQuote(f *testing.F) {
	for _, s := range testenv.AwkwardStrings {
		f.Add(s)
	}
	dash := testenv.RequireBinary(f, "dash")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			t.Skip("a shell word cannot hold NUL; callers reject it")
		}
		got := shPrintf(t, dash, []string{s, "sentinel"})
		if len(got) != 2 || got[0] != s || got[1] != "sentinel" {
			t.Fatalf("Quote(%q) through sh = %q", s, got)
		}
	})
}
