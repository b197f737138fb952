package sandboxexec

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyPolicy turns the config's known_hosts settings into the callback
// that verifies the server, and the host key algorithms to offer.
//
// The algorithms are those of the keys pinned for this host: a server with
// an ed25519 and an RSA key that we pinned by its RSA key would otherwise
// offer ed25519 first, and a correct server would look like an attacker.
// With nothing pinned (or checking off) the library's defaults apply.
func hostKeyPolicy(c *sshConfig) (ssh.HostKeyCallback, []string, error) {
	if !c.StrictHostKeyCheck {
		// An explicit `StrictHostKeyChecking no` (OpenShell's configs: its
		// ProxyCommand authenticates the gateway). Accept any key.
		return func(string, net.Addr, ssh.PublicKey) error { return nil }, nil, nil
	}
	// Every configured file is named in errors, the missing ones marked,
	// because "which file did it read?" is the operator's first question.
	var existing, named []string
	for _, f := range c.KnownHostsFiles {
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			existing = append(existing, f)
			named = append(named, f)
		} else {
			named = append(named, f+" (missing)")
		}
	}
	name := c.hostKeyName()
	if len(existing) == 0 {
		return func(_ string, _ net.Addr, key ssh.PublicKey) error {
			return &HostKeyError{Host: name, Files: named, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key)}
		}, nil, nil
	}
	db, err := knownhosts.New(existing...)
	if err != nil {
		return nil, nil, fmt.Errorf("read known_hosts: %w", err)
	}
	addr := c.knownHostsAddr()
	// knownhosts wants a TCP remote address even though it matches on addr;
	// a ProxyCommand connection has none.
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: c.Port}
	check := func(_ string, _ net.Addr, key ssh.PublicKey) error {
		err := db(addr, remote, key)
		if err == nil {
			return nil
		}
		hk := &HostKeyError{Host: name, Files: named, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key)}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &ke):
			for _, w := range ke.Want {
				hk.Pinned = append(hk.Pinned, fmt.Sprintf("%s:%d", w.Filename, w.Line))
			}
			return hk
		case errors.As(err, &re):
			hk.Revoked = fmt.Sprintf("%s:%d", re.Revoked.Filename, re.Revoked.Line)
			return hk
		}
		return err
	}
	return check, pinnedAlgorithms(db, addr, remote), nil
}

// pinnedAlgorithms asks the known_hosts database which keys it holds for
// addr, by presenting a key it cannot hold: the mismatch lists them.
func pinnedAlgorithms(db ssh.HostKeyCallback, addr string, remote net.Addr) []string {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(db(addr, remote, probe), &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			algos = append(algos, a)
		}
	}
	for _, w := range ke.Want {
		switch t := w.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			// An RSA key is verified with SHA-2 signatures by any current
			// server; ssh-rsa (SHA-1) last, for old ones.
			add(ssh.KeyAlgoRSASHA512)
			add(ssh.KeyAlgoRSASHA256)
			add(ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}
