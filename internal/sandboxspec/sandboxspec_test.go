package sandboxspec

import (
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	good := []string{"a", "demo", "my-sandbox-2", "0", strings.Repeat("a", 63)}
	bad := []string{"", "-a", "a-", "Demo", "a_b", "a.b", "a b", "../x", strings.Repeat("a", 64), "a\n", "list;rm"}
	for _, n := range good {
		if !ValidName(n) {
			t.Errorf("ValidName(%q) = false, want true", n)
		}
	}
	for _, n := range bad {
		if ValidName(n) {
			t.Errorf("ValidName(%q) = true: it could escape a path or a shell word", n)
		}
	}
}
