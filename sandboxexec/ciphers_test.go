package sandboxexec_test

import (
	"testing"

	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// The cipher order is pinned for speed (ciphers.go); pinning must not lock
// out a server that offers only one of the others.
func TestCiphersServerOffersOnlyOne(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cipher string
		why    string
	}{
		{"aes128-gcm@openssh.com", "the one we prefer"},
		{"chacha20-poly1305@openssh.com", "OpenSSH's first choice, for a server that disabled AES-GCM"},
		{"aes256-ctr", "a CTR cipher (with a MAC) for an older or restricted server"},
	}
	for _, c := range cases {
		t.Run(c.cipher, func(t *testing.T) {
			t.Parallel()
			s := sshdtest.StartWith(t, sshdtest.Options{ServerConfig: []string{"Ciphers " + c.cipher}})
			tr := dial(t, s.Target())
			if got, _, _ := run(t, tr, "true", nil); got != (sandboxexec.Outcome{Kind: sandboxexec.Exited}) {
				t.Errorf("%s: `true` ended %v", c.why, got)
			}
		})
	}
}
