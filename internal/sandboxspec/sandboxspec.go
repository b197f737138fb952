// Package sandboxspec holds the few facts about a sandbox that every layer
// must agree on — the command line, the registry, the payload and the lab
// — so that each is written once: the sandbox-name rule (SPEC §2.1) and the
// well-known ports (SPEC §1, §3.2).
package sandboxspec

import "regexp"

// namePattern is SPEC §2.1's rule: a DNS label. Custom agent names follow
// it too, because they become file names and are baked into the payload.
var namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// NameRule says the rule in words, for error messages.
const NameRule = "use 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit"

// ValidName reports whether name may name a sandbox (or a custom agent).
func ValidName(name string) bool { return namePattern.MatchString(name) }

const (
	// DefaultDashboardPort is the gateway's dashboard port inside the
	// sandbox and the forward's port on the host, when nothing says
	// otherwise.
	DefaultDashboardPort = 18789
	// HermesAPIPort is where the Hermes gateway answers /health.
	HermesAPIPort = 8642
)
