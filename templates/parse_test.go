package templates

import (
	"bytes"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

// Every variant parses as POSIX sh by a parser that is not a shell we run
// it with: a bash-ism that dash and bash both happen to accept, or a
// construct only one of them reads the way we meant, is caught here
// without executing anything.
func TestVariantsParseAsPOSIX(t *testing.T) {
	parser := syntax.NewParser(syntax.Variant(syntax.LangPOSIX))
	for name, p := range variants() {
		script := render(t, p)
		if _, err := parser.Parse(bytes.NewReader(script), name+".sh"); err != nil {
			t.Errorf("%s: not POSIX sh: %v", name, err)
		}
	}
	// The check itself must be able to fail: a bash-only construct.
	if _, err := parser.Parse(strings.NewReader("a=(1 2)\n[[ -n $a ]]\n"), "bashism.sh"); err == nil {
		t.Fatal("the POSIX parser accepted bash arrays and [[ ]]; this test proves nothing")
	}
}
