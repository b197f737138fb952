package host

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/nemoclaw/nemoclaw-go/host/registry"
	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// lookupSandbox validates name and finds its registry entry. Unknown names
// exit 1 with the closest registered name when one is near (a typo), and
// the registered names, so the operator never has to run `list` to retry.
// A registry that does not parse exits 2 (registry.ParseError).
func (inv *Invocation) lookupSandbox(name string) (*registry.Sandbox, error) {
	if err := ValidateSandboxName(name); err != nil {
		return nil, err
	}
	path := registry.DefaultPath(inv.Home())
	reg, err := registry.Load(path)
	if err != nil {
		return nil, err
	}
	if sb, ok := reg.Sandboxes[name]; ok {
		return sb, nil
	}
	return nil, unknownSandboxError(name, path, reg.Names())
}

// unknownSandboxError words the "does not exist" of SPEC §2.1.
func unknownSandboxError(name, path string, names []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "sandbox '%s' does not exist.", name)
	if s := closestName(name, names); s != "" {
		fmt.Fprintf(&b, " Did you mean '%s'?", s)
	}
	if len(names) == 0 {
		fmt.Fprintf(&b, " No sandboxes are registered in %s.", path)
	} else {
		sorted := append([]string(nil), names...)
		sort.Strings(sorted)
		fmt.Fprintf(&b, " Registered sandboxes: %s.", strings.Join(sorted, ", "))
	}
	return &unknownSandbox{msg: b.String()}
}

// unknownSandbox is SPEC §2.1's "does not exist" (exit 1).
type unknownSandbox struct{ msg string }

func (e *unknownSandbox) Error() string { return e.msg }
func (e *unknownSandbox) ExitCode() int { return exitcode.Failed }

// closestName returns the registered name nearest to name by edit distance,
// if it is near enough to be a typo: at most 2 edits, or a third of the
// name for long names. Ties go to the alphabetically first name, so the
// suggestion is stable.
func closestName(name string, names []string) string {
	limit := max(2, len(name)/3)
	best, bestD := "", limit+1
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	for _, n := range sorted {
		if d := editDistance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes: sandbox
// names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// openTransport opens the one connection a command uses for a sandbox: SSH
// when the registry's transport object says so, OpenShell otherwise (the
// default when absent, SPEC §3.1).
//
// A relative sshConfig path is taken relative to the registry's directory
// (~/.nemoclaw), and `~/` to HOME: the registry is the file that names it,
// and the command's working directory must not change which config is used.
func (inv *Invocation) openTransport(ctx context.Context, name string, sb *registry.Sandbox) (sandboxexec.Transport, error) {
	switch kind := sb.TransportKind(); kind {
	case registry.KindOpenShell:
		return sandboxexec.DialOpenShell(ctx, name, sandboxexec.OpenShellOptions{Getenv: inv.Getenv, Gateway: sb.GatewayName})
	case registry.KindSSH:
		t := sb.Transport
		if t.SSHConfig == "" || t.Host == "" {
			return nil, withCode(exitcode.Usage, fmt.Errorf("sandbox '%s': transport kind ssh needs both sshConfig and host in %s", name, registry.DefaultPath(inv.Home())), "")
		}
		cfg := inv.sshConfigPath(t.SSHConfig)
		return sandboxexec.DialSSH(ctx, sandboxexec.SSHTarget{ConfigFile: cfg, Host: t.Host},
			sandboxexec.SSHOptions{Getenv: inv.Getenv, Name: name})
	default:
		return nil, withCode(exitcode.Usage, fmt.Errorf("sandbox '%s': unknown transport kind %q in %s (want %q or %q)",
			name, kind, registry.DefaultPath(inv.Home()), registry.KindOpenShell, registry.KindSSH), "")
	}
}
