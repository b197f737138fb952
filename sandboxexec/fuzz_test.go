package sandboxexec

import (
	"bytes"
	"encoding/base64"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// The config reader takes files the operator (or OpenShell) wrote: whatever
// they contain, it returns a config or an error, never panics, and what it
// returns is usable (a port in range, a host, a user).
func FuzzReadSSHConfig(f *testing.F) {
	seeds := []string{
		"Host sb\n  HostName 127.0.0.1\n  Port 2222\n  User sandbox\n",
		"Host sb\n  ProxyCommand socat STDIO TCP:%h:%p\n  IdentityFile ~/.ssh/id_ed25519\n  IdentityFile \"/a b/key\"\n",
		"Host sb\n  UserKnownHostsFile /a \"/b c\" ~/k\n  StrictHostKeyChecking no\n  ServerAliveInterval 0\n",
		"Host *\n  Port 1\nHost sb\n  Port 2\n",
		"Host sb\n  Port 70000\n",
		"Host sb\n  ConnectTimeout 1m\n  ServerAliveCountMax 0\n",
		"Host=sb\nHostName=%h.example\n",
		"Host sb openshell-sb\n  Include /nonexistent\n",
		"Match host sb\n  Port 3\n",
		"Host sb\n  ProxyCommand %%%h%p%r%n%",
		"Host \"sb\"\n\tUser \"\"\n",
		"",
	}
	for _, s := range seeds {
		f.Add(s, "sb")
	}
	f.Fuzz(func(t *testing.T, config, alias string) {
		c, err := readSSHConfig(strings.NewReader(config), alias, localEnv{Home: "/home/op", User: "op"})
		if err != nil {
			return
		}
		if c.Port < 1 || c.Port > 65535 || c.HostName == "" || c.User == "" || c.ConnectTimeout <= 0 || c.ServerAliveCountMax < 1 {
			t.Fatalf("accepted an unusable config: %+v", c)
		}
		_ = c.hostKeyName()
		_ = c.knownHostsAddr()
		_, _ = FirstHostAlias(strings.NewReader(config))
	})
}

// The exec fallback's quoting, against a real sh: any env value and script
// must come out of the wrapper exactly as given, and OpenShell's preamble
// must be cut at the marker however the output is split into writes.
func FuzzExecWrapperRoundTrip(f *testing.F) {
	for _, s := range []string{"", "plain", "it's", `"$HOME" $(id) ` + "`x`", "a\nb\n", "\\", "'\\''", "-n", "%s%%", "\t \x01"} {
		f.Add(s)
	}
	sh := testenv.RequireBinary(f, "sh")
	f.Fuzz(func(t *testing.T, value string) {
		if strings.ContainsRune(value, 0) {
			return // no shell variable can hold a NUL; execScript drops it
		}
		script := execScript(`printf '%s' "$V"`, map[string]string{"V": value, "not a name": "dropped"})
		marker := "@nemoclaw-exec-start-fuzz"
		cmd := exec.Command(sh, "-c", execWrapper, "sh", marker, base64.StdEncoding.EncodeToString([]byte(script)))
		var out bytes.Buffer
		cmd.Stdout = newMarkerWriter(marker, &out)
		cmd.Stderr = newMarkerWriter(marker+"-stderr", nil)
		if err := cmd.Run(); err != nil {
			t.Fatalf("wrapper failed for %q: %v", value, err)
		}
		if out.String() != value {
			t.Fatalf("value %q came out as %q", value, out.String())
		}
	})
}

// markerWriter must find the marker whatever the write boundaries, pass
// exactly what follows it, and never pass the preamble.
func FuzzMarkerWriterSplits(f *testing.F) {
	f.Add("preamble\nmore\n", "payload\nlines", uint8(3))
	f.Add("", "x", uint8(1))
	f.Add("not-a-@nemoclaw-exec-start-m\n", "@nemoclaw-exec-start-m\nsecond", uint8(7))
	f.Fuzz(func(t *testing.T, preamble, payload string, chunk uint8) {
		const marker = "@nemoclaw-exec-start-m"
		if strings.Contains(preamble, marker+"\n") || !utf8.ValidString(preamble) {
			return
		}
		if preamble != "" && !strings.HasSuffix(preamble, "\n") {
			preamble += "\n"
		}
		stream := preamble + marker + "\n" + payload
		var out bytes.Buffer
		w := newMarkerWriter(marker, &out)
		n := int(chunk%16) + 1
		for i := 0; i < len(stream); i += n {
			end := min(i+n, len(stream))
			if _, err := w.Write([]byte(stream[i:end])); err != nil {
				t.Fatal(err)
			}
		}
		if !w.started() || out.String() != payload {
			t.Fatalf("stream %q in chunks of %d: started=%v out %q, want %q", stream, n, w.started(), out.String(), payload)
		}
	})
}

// A CLI that merges the command's stderr into stdout must not leak the
// stderr marker into the output.
func TestExecWrapperMergedStreams(t *testing.T) {
	sh := testenv.RequireBinary(t, "sh")
	const marker = "@nemoclaw-exec-start-merged"
	script := base64.StdEncoding.EncodeToString([]byte("echo out; echo err >&2"))
	cmd := exec.Command(sh, "-c", "echo preamble; exec 2>&1; "+"sh -c \"$0\" sh \"$1\" \"$2\"", execWrapper, marker, script)
	var out bytes.Buffer
	cmd.Stdout = newMarkerWriter(marker, &out)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out\nerr\n" {
		t.Errorf("merged streams gave %q, want \"out\\nerr\\n\"", out.String())
	}
}
