package sandboxexec

import (
	"fmt"
	"strings"

	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
)

// HostKeyError is a host key that is not pinned (Unknown) or differs from
// the pinned one. It names the known_hosts files consulted, and for a
// mismatch the file:line of the pinned key, because that is the line the
// operator has to look at.
type HostKeyError struct {
	Host        string   // the name looked up: HostKeyAlias, or host[:port]
	Files       []string // known_hosts files consulted
	Fingerprint string   // SHA256 fingerprint of the key the server offered
	KeyType     string
	// Pinned is where the expected key(s) live ("file:line"); empty means
	// the host is unknown.
	Pinned []string
	// Revoked is set when the offered key is marked @revoked.
	Revoked string
}

func (e *HostKeyError) Error() string {
	switch {
	case e.Revoked != "":
		return fmt.Sprintf("host key for %s (%s %s) is revoked at %s", e.Host, e.KeyType, e.Fingerprint, e.Revoked)
	case len(e.Pinned) == 0:
		files := "no known_hosts file exists"
		if len(e.Files) > 0 {
			files = strings.Join(e.Files, ", ")
		}
		return fmt.Sprintf("host key for %s is unknown: %s %s is not pinned in %s", e.Host, e.KeyType, e.Fingerprint, files)
	default:
		return fmt.Sprintf("host key for %s does not match: the server offered %s %s, pinned at %s", e.Host, e.KeyType, e.Fingerprint, strings.Join(e.Pinned, ", "))
	}
}

// Unknown reports whether the host had no pinned key at all.
func (e *HostKeyError) Unknown() bool { return len(e.Pinned) == 0 && e.Revoked == "" }

// ExitCode is SPEC §2.3's "host key unknown or mismatched".
func (e *HostKeyError) ExitCode() int { return exitcode.HostKey }

// UnreachableError is any failure to get a working connection: connect,
// ProxyCommand, handshake, authentication, timeout, a dropped connection.
type UnreachableError struct {
	Host string // the alias or sandbox name
	Op   string // what failed, e.g. "connect", "authenticate", "open session"
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Op, e.Host, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// ExitCode is SPEC §2.3's "sandbox unreachable".
func (e *UnreachableError) ExitCode() int { return exitcode.Unreachable }

// SandboxMissingError: the sandbox's manager (OpenShell) says it does not
// exist. The registry entry is kept; only the operator may remove it.
type SandboxMissingError struct {
	Name   string
	Detail string // what the manager said
}

func (e *SandboxMissingError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("sandbox '%s' not found by OpenShell: %s", e.Name, e.Detail)
	}
	return fmt.Sprintf("sandbox '%s' not found by OpenShell", e.Name)
}

// ExitCode is SPEC §2.3's "sandbox unknown".
func (e *SandboxMissingError) ExitCode() int { return exitcode.Failed }

// SandboxMissing says the sandbox is gone for good, not unreachable for
// now. Packages that must not import this one (portforward, whose daemon
// stops reconnecting to a deleted sandbox) recognise the error by this
// method through errors.As on a one-method interface.
func (e *SandboxMissingError) SandboxMissing() bool { return true }

// ConfigError is an SSH client config that cannot be used (unreadable, no
// block for the alias, a value that does not parse). Exit 2, like an
// unreadable registry: the configuration is wrong and nothing was tried on
// the network.
type ConfigError struct {
	Path string
	Err  error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("ssh config %s: %v", e.Path, e.Err) }
func (e *ConfigError) Unwrap() error { return e.Err }
func (e *ConfigError) ExitCode() int { return exitcode.Usage }
