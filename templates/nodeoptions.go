package templates

import "strings"

// The guard preloads staged in /tmp, the paths that go into NODE_OPTIONS
// (SPEC §5.1).
const (
	SafetyNetPreload = "/tmp/nemoclaw-sandbox-safety-net.js"
	CiaoPreload      = "/tmp/nemoclaw-ciao-network-guard.js"
)

// nodeOptionsFields splits NODE_OPTIONS as the payload does: on the shell's
// default IFS (space, tab, newline) and nothing else, with globbing off.
func nodeOptionsFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' })
}

// RequiresPreload reports whether nodeOptions requires path with an exact
// token: `--require <path>`, `--require=<path>` or `-r <path>`. A token that
// merely contains path (/tmp/not-nemoclaw-sandbox-safety-net.js) does not
// count. It mirrors the payload's nc_requires_preload and is fuzzed against
// it; change both together.
func RequiresPreload(nodeOptions, path string) bool {
	prev := ""
	for _, tok := range nodeOptionsFields(nodeOptions) {
		if (prev == "--require" || prev == "-r") && tok == path {
			return true
		}
		if tok == "--require="+path {
			return true
		}
		prev = tok
	}
	return false
}

// MissingPreloads returns, in order, the paths that nodeOptions does not
// require yet; each appears once even if listed twice. It mirrors the
// payload's decision of which `export NODE_OPTIONS=...--require <p>` lines to
// write into the recovered env, so no path is ever added twice.
func MissingPreloads(nodeOptions string, paths ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] || RequiresPreload(nodeOptions, p) {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// AppendRequire is what sourcing one generated
// `export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--require <p>"` line
// does to NODE_OPTIONS.
func AppendRequire(nodeOptions, path string) string {
	if nodeOptions == "" {
		return "--require " + path
	}
	return nodeOptions + " --require " + path
}

// StripCodeLoading removes from an inherited NODE_OPTIONS every option that
// loads code: --require, -r, --import, --loader and --experimental-loader
// (node also accepts --experimental_loader), each with its value
// (`--require p`, `--require=p`; a `-r` glued to its value, `-rp`, alone).
// It returns the options left, joined by single spaces, and one entry per
// removed option. Node reads quotes and backslashes in NODE_OPTIONS, so
// words split on blanks cannot be trusted there: a value holding either is
// removed whole, as one entry. It mirrors the payload's
// nc_strip_code_loading and is fuzzed against it; change both together.
func StripCodeLoading(nodeOptions string) (kept string, dropped []string) {
	if strings.ContainsAny(nodeOptions, "\"\\") {
		return "", []string{nodeOptions}
	}
	var keep []string
	value := false
	for _, tok := range nodeOptionsFields(nodeOptions) {
		if value {
			value = false
			dropped[len(dropped)-1] += " " + tok
			continue
		}
		name, _, hasEq := strings.Cut(tok, "=")
		switch {
		case name == "--require", name == "--import", name == "--loader",
			name == "--experimental-loader", name == "--experimental_loader",
			strings.HasPrefix(name, "-r"):
			dropped = append(dropped, tok)
			value = !hasEq && !(strings.HasPrefix(tok, "-r") && len(tok) > 2)
		default:
			keep = append(keep, tok)
		}
	}
	return strings.Join(keep, " "), dropped
}
