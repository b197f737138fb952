package sandboxexec

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// Defaults where the config is silent. They differ from OpenSSH's on
// purpose where OpenSSH's would let a run hang: OpenSSH has no connect
// timeout and no keepalive by default, and an operator running `recover`
// from cron expects it to give up on a dead sandbox, not to wait on TCP
// retransmissions for minutes.
const (
	defaultConnectTimeout      = 20 * time.Second
	defaultServerAliveInterval = 15 * time.Second
	defaultServerAliveCountMax = 3
)

// sshConfig is what the transport uses from one Host block, resolved the
// way `ssh -F file alias` resolves it: first value wins, defaults filled in,
// `~` and `%` tokens expanded.
type sshConfig struct {
	Alias          string
	HostName       string
	Port           int
	User           string
	IdentityFiles  []string
	IdentitiesOnly bool
	// ProxyCommand has %h %p %r %n %% expanded; empty or "none" = direct.
	ProxyCommand        string
	KnownHostsFiles     []string // user files, then global files
	HostKeyAlias        string
	StrictHostKeyCheck  bool // false only for an explicit "no"/"off"
	ServerAliveInterval time.Duration
	ServerAliveCountMax int
	ConnectTimeout      time.Duration
}

// localEnv is the local facts a config is expanded against.
type localEnv struct {
	Home string // for ~ and %d
	User string // local user name: default remote user, %u
}

// hostKeyName is the name the host key is pinned under: the HostKeyAlias
// as is (OpenSSH adds no port to an alias), or HostName with its port in
// known_hosts' [host]:port form when the port is not 22.
func (c *sshConfig) hostKeyName() string {
	if c.HostKeyAlias != "" {
		return c.HostKeyAlias
	}
	if c.Port == 22 {
		return c.HostName
	}
	return "[" + c.HostName + "]:" + strconv.Itoa(c.Port)
}

// knownHostsAddr is hostKeyName in the host:port form the knownhosts
// package matches against.
func (c *sshConfig) knownHostsAddr() string {
	if c.HostKeyAlias != "" {
		return c.HostKeyAlias + ":22"
	}
	return c.HostName + ":" + strconv.Itoa(c.Port)
}

// readSSHConfig resolves alias from the OpenSSH client config in r. Only
// this file is read (as with `ssh -F`): ~/.ssh/config and /etc/ssh/ssh_config
// do not apply, so what the registry names is all that counts.
//
// An alias that no Host block names (a `Host *` block alone does not count)
// is an error rather than a DNS name to try, because a registry entry
// pointing at the wrong config should say so, not dial the internet.
func readSSHConfig(r io.Reader, alias string, env localEnv) (*sshConfig, error) {
	if alias == "" {
		return nil, errors.New("no Host alias given")
	}
	cfg, err := ssh_config.Decode(r)
	if err != nil {
		return nil, err
	}
	if !namesAlias(cfg, alias) {
		return nil, fmt.Errorf("no Host block for %q", alias)
	}
	get := func(key string) (string, error) {
		v, err := cfg.Get(alias, key)
		return unquote(strings.TrimSpace(v)), err
	}
	getAll := func(key string) ([]string, error) {
		return cfg.GetAll(alias, key)
	}

	c := &sshConfig{Alias: alias, Port: 22, User: env.User, StrictHostKeyCheck: true,
		ServerAliveInterval: defaultServerAliveInterval, ServerAliveCountMax: defaultServerAliveCountMax,
		ConnectTimeout: defaultConnectTimeout}

	if v, err := get("HostName"); err != nil {
		return nil, err
	} else if v != "" {
		c.HostName = expandTokens(v, map[byte]string{'h': alias})
	} else {
		c.HostName = alias
	}
	if v, err := get("Port"); err != nil {
		return nil, err
	} else if v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("Port %q is not a port number", v)
		}
		c.Port = p
	}
	if v, err := get("User"); err != nil {
		return nil, err
	} else if v != "" {
		c.User = v
	}
	if c.User == "" {
		return nil, errors.New("no User configured and the local user name is unknown")
	}

	port := strconv.Itoa(c.Port)
	fileTokens := map[byte]string{'d': env.Home, 'u': env.User, 'h': c.HostName, 'r': c.User, 'p': port, 'n': alias}

	ids, err := getAll("IdentityFile")
	if err != nil {
		return nil, err
	}
	for _, v := range ids {
		// One file per directive (a path may contain blanks).
		if f := unquote(strings.TrimSpace(v)); f != "" {
			c.IdentityFiles = append(c.IdentityFiles, expandPath(f, env.Home, fileTokens))
		}
	}
	if len(c.IdentityFiles) == 0 && env.Home != "" {
		// OpenSSH's defaults; files that do not exist are skipped later.
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			c.IdentityFiles = append(c.IdentityFiles, filepath.Join(env.Home, ".ssh", n))
		}
	}
	if v, err := get("IdentitiesOnly"); err != nil {
		return nil, err
	} else {
		c.IdentitiesOnly = isYes(v)
	}

	if v, err := get("ProxyCommand"); err != nil {
		return nil, err
	} else if v != "" && !strings.EqualFold(v, "none") {
		c.ProxyCommand = expandTokens(v, map[byte]string{'h': c.HostName, 'p': port, 'r': c.User, 'n': alias})
	}

	for _, key := range []string{"UserKnownHostsFile", "GlobalKnownHostsFile"} {
		v, err := get(key)
		if err != nil {
			return nil, err
		}
		if v == "" {
			v = ssh_config.Default(key)
		}
		for _, f := range splitArgs(v) {
			if f == "none" {
				continue
			}
			c.KnownHostsFiles = append(c.KnownHostsFiles, expandPath(f, env.Home, fileTokens))
		}
	}
	if v, err := get("HostKeyAlias"); err != nil {
		return nil, err
	} else {
		c.HostKeyAlias = v
	}
	if v, err := get("StrictHostKeyChecking"); err != nil {
		return nil, err
	} else {
		// "yes", "ask", "accept-new" and unset are all strict here: there
		// is no prompt, and this tool never writes known_hosts (no trust
		// on first use). Only an explicit "no"/"off" turns checking off.
		switch strings.ToLower(v) {
		case "no", "off":
			c.StrictHostKeyCheck = false
		}
	}

	if v, err := get("ServerAliveInterval"); err != nil {
		return nil, err
	} else if v != "" {
		d, err := parseSeconds(v)
		if err != nil {
			return nil, fmt.Errorf("ServerAliveInterval: %w", err)
		}
		// 0 disables keepalive, as in OpenSSH.
		c.ServerAliveInterval = d
	}
	if v, err := get("ServerAliveCountMax"); err != nil {
		return nil, err
	} else if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("ServerAliveCountMax %q is not a positive number", v)
		}
		c.ServerAliveCountMax = n
	}
	if v, err := get("ConnectTimeout"); err != nil {
		return nil, err
	} else if v != "" && !strings.EqualFold(v, "none") {
		d, err := parseSeconds(v)
		if err != nil {
			return nil, fmt.Errorf("ConnectTimeout: %w", err)
		}
		if d > 0 {
			c.ConnectTimeout = d
		}
	}
	return c, nil
}

// namesAlias reports whether a Host block other than a bare `*` matches.
func namesAlias(cfg *ssh_config.Config, alias string) bool {
	for _, h := range cfg.Hosts {
		specific := false
		for _, p := range h.Patterns {
			if s := p.String(); s != "*" {
				specific = true
			}
		}
		if specific && h.Matches(alias) {
			return true
		}
	}
	return false
}

// FirstHostAlias returns the first Host pattern in an OpenSSH config that is
// a plain name (no wildcard, no negation): the alias of a config generated
// for one host, like `openshell sandbox ssh-config`'s.
func FirstHostAlias(r io.Reader) (string, error) {
	cfg, err := ssh_config.Decode(r)
	if err != nil {
		return "", err
	}
	for _, h := range cfg.Hosts {
		for _, p := range h.Patterns {
			s := p.String()
			if s != "" && !strings.ContainsAny(s, "*?!") {
				return s, nil
			}
		}
	}
	return "", errors.New("no Host alias in the config")
}

// parseSeconds reads an OpenSSH time value: seconds, or a number with an
// s/m/h suffix (OpenSSH's `30s`, `1m`).
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%q is negative", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(strings.ToLower(v))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a time in seconds", v)
	}
	return d, nil
}

func isYes(v string) bool {
	switch strings.ToLower(v) {
	case "yes", "true", "on":
		return true
	}
	return false
}

// unquote removes one pair of surrounding double quotes.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// splitArgs splits a multi-valued directive (UserKnownHostsFile a "b c")
// on blanks, honouring double quotes as OpenSSH does.
func splitArgs(v string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case ch == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (ch == ' ' || ch == '\t'):
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(ch)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// expandPath expands a leading ~ or ~/ (home) and %-tokens in a file name.
func expandPath(p, home string, tokens map[byte]string) string {
	p = expandTokens(p, tokens)
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

// expandTokens replaces %X for every X in tokens and %% with %. Unknown
// tokens are kept literally (OpenSSH would refuse the config; keeping them
// lets a command that means a literal % still run).
func expandTokens(s string, tokens map[byte]string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		next := s[i+1]
		if next == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		if v, ok := tokens[next]; ok {
			b.WriteString(v)
			i++
			continue
		}
		b.WriteByte('%')
	}
	return b.String()
}
