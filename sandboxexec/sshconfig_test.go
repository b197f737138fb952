package sandboxexec

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// How one Host block is resolved; each case says which OpenSSH behaviour
// (or deliberate difference) it pins down.
func TestReadSSHConfig(t *testing.T) {
	env := localEnv{Home: "/home/op", User: "op"}
	cases := []struct {
		why    string
		config string
		alias  string
		check  func(*sshConfig) bool
	}{
		{"defaults: port 22, local user, alias as HostName, strict, OpenSSH's identity files, our timeouts",
			"Host sb\n  IdentitiesOnly no\n", "sb",
			func(c *sshConfig) bool {
				return c.Port == 22 && c.User == "op" && c.HostName == "sb" && c.StrictHostKeyCheck &&
					reflect.DeepEqual(c.IdentityFiles, []string{"/home/op/.ssh/id_ed25519", "/home/op/.ssh/id_ecdsa", "/home/op/.ssh/id_rsa"}) &&
					reflect.DeepEqual(c.KnownHostsFiles, []string{"/home/op/.ssh/known_hosts", "/home/op/.ssh/known_hosts2", "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}) &&
					c.ConnectTimeout == defaultConnectTimeout && c.ServerAliveInterval == defaultServerAliveInterval
			}},
		{"first value wins, including over a later Host *",
			"Host sb\n  Port 2200\nHost *\n  Port 1\n  User star\n", "sb",
			func(c *sshConfig) bool { return c.Port == 2200 && c.User == "star" }},
		{"every IdentityFile is kept, ~ and quotes handled",
			"Host sb\n  IdentityFile ~/.ssh/a\n  IdentityFile \"/x y/b\"\n", "sb",
			func(c *sshConfig) bool {
				return reflect.DeepEqual(c.IdentityFiles, []string{"/home/op/.ssh/a", "/x y/b"})
			}},
		{"ProxyCommand tokens: %h %p %r %n and %%",
			"Host sb\n  HostName 10.0.0.1\n  Port 2022\n  User u\n  ProxyCommand nc %h %p -u %r -n %n 100%%\n", "sb",
			func(c *sshConfig) bool { return c.ProxyCommand == "nc 10.0.0.1 2022 -u u -n sb 100%" }},
		{"ProxyCommand none means direct",
			"Host sb\n  ProxyCommand none\n", "sb",
			func(c *sshConfig) bool { return c.ProxyCommand == "" }},
		{"UserKnownHostsFile takes several files, quoted and ~; GlobalKnownHostsFile none is skipped",
			"Host sb\n  UserKnownHostsFile ~/k1 \"/a b/k2\"\n  GlobalKnownHostsFile none\n", "sb",
			func(c *sshConfig) bool {
				return reflect.DeepEqual(c.KnownHostsFiles, []string{"/home/op/k1", "/a b/k2"})
			}},
		{"HostKeyAlias is the pinned name, without a port",
			"Host sb\n  HostName 127.0.0.1\n  Port 2222\n  HostKeyAlias sb-key\n", "sb",
			func(c *sshConfig) bool { return c.hostKeyName() == "sb-key" && c.knownHostsAddr() == "sb-key:22" }},
		{"without an alias the pinned name is [host]:port off port 22",
			"Host sb\n  HostName 127.0.0.1\n  Port 2222\n", "sb",
			func(c *sshConfig) bool { return c.hostKeyName() == "[127.0.0.1]:2222" }},
		{"only an explicit no turns host key checking off",
			"Host sb\n  StrictHostKeyChecking no\n", "sb",
			func(c *sshConfig) bool { return !c.StrictHostKeyCheck }},
		{"accept-new stays strict: this tool never writes known_hosts",
			"Host sb\n  StrictHostKeyChecking accept-new\n", "sb",
			func(c *sshConfig) bool { return c.StrictHostKeyCheck }},
		{"keepalive and timeout values, OpenSSH time suffixes",
			"Host sb\n  ServerAliveInterval 5\n  ServerAliveCountMax 4\n  ConnectTimeout 1m\n", "sb",
			func(c *sshConfig) bool {
				return c.ServerAliveInterval == 5*time.Second && c.ServerAliveCountMax == 4 && c.ConnectTimeout == time.Minute
			}},
		{"ServerAliveInterval 0 disables keepalive, as in OpenSSH",
			"Host sb\n  ServerAliveInterval 0\n", "sb",
			func(c *sshConfig) bool { return c.ServerAliveInterval == 0 }},
		{"a pattern Host block matches",
			"Host openshell-*\n  User sandbox\n", "openshell-demo",
			func(c *sshConfig) bool { return c.User == "sandbox" }},
		{"HostName %h is the alias",
			"Host sb\n  HostName %h.internal\n", "sb",
			func(c *sshConfig) bool { return c.HostName == "sb.internal" }},
	}
	for _, c := range cases {
		got, err := readSSHConfig(strings.NewReader(c.config), c.alias, env)
		if err != nil {
			t.Errorf("%s: %v", c.why, err)
			continue
		}
		if !c.check(got) {
			t.Errorf("%s: got %+v", c.why, got)
		}
	}
}

// Configs that must be refused rather than guessed at.
func TestReadSSHConfigRefuses(t *testing.T) {
	env := localEnv{Home: "/home/op", User: "op"}
	cases := []struct{ why, config, alias, wantIn string }{
		{"no block names the alias: do not dial it as a DNS name", "Host other\n  Port 22\n", "sb", "no Host block"},
		{"a Host * block alone does not name the alias", "Host *\n  Port 22\n", "sb", "no Host block"},
		{"a port out of range", "Host sb\n  Port 70000\n", "sb", "not a port"},
		{"a non-numeric port", "Host sb\n  Port ssh\n", "sb", "not a port"},
		{"a negative keepalive", "Host sb\n  ServerAliveInterval -1\n", "sb", "ServerAliveInterval"},
		{"a zero ServerAliveCountMax", "Host sb\n  ServerAliveCountMax 0\n", "sb", "ServerAliveCountMax"},
		{"no alias given", "Host sb\n", "", "no Host alias"},
	}
	for _, c := range cases {
		_, err := readSSHConfig(strings.NewReader(c.config), c.alias, env)
		if err == nil || !strings.Contains(err.Error(), c.wantIn) {
			t.Errorf("%s: err = %v, want one containing %q", c.why, err, c.wantIn)
		}
	}
}

// OpenShell's ssh-config names its host in the first concrete Host line.
func TestFirstHostAlias(t *testing.T) {
	got, err := FirstHostAlias(strings.NewReader("Host *\n  LogLevel ERROR\nHost !x openshell-demo other\n  User sandbox\n"))
	if err != nil || got != "openshell-demo" {
		t.Errorf("FirstHostAlias = %q, %v; want openshell-demo", got, err)
	}
	if _, err := FirstHostAlias(strings.NewReader("Host *\n")); err == nil {
		t.Error("a config with only Host * has no alias")
	}
}
