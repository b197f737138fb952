// Package shellquote is the one quoting function of the project: how any
// value becomes a POSIX shell word, whether it lands in the recovery
// payload's header, in a remote command line, or in a script the lab
// writes. It is a leaf so that every layer can use it without importing the
// payload templates. It is fuzzed against a real sh.
package shellquote

import "strings"

// Quote returns s as one POSIX shell word that expands to exactly s: the
// bytes inside single quotes, each embedded single quote written as '\”.
// A NUL byte cannot exist in a shell word; callers reject values holding
// one before quoting them.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
