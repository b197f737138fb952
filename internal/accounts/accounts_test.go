package accounts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCopyDropsClashesKeepsTheRest(t *testing.T) {
	etc := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// runner has uid 1001 (as CI runners often do); an old sandbox line
	// has another id; sshd must survive.
	write("passwd", "root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nrunner:x:1001:1001::/home/runner:/bin/bash\nsandbox:x:1500:1500::/x:/bin/sh\n")
	write("group", "root:x:0:\nrunner:x:1001:\nshadow:x:42:\n")
	write("shadow", "root:*:1:0:99999:7:::\nrunner:!:1:0:99999:7:::\nsandbox:!:1:0:99999:7:::\n")
	f, err := Copy(etc, User{Name: "sandbox", ID: 1001, Home: "/sandbox", Shell: "/bin/bash"})
	if err != nil {
		t.Fatal(err)
	}
	passwd, group, shadow := string(f["passwd"]), string(f["group"]), string(f["shadow"])
	for _, gone := range []string{"runner:", "sandbox:x:1500"} {
		if strings.Contains(passwd, gone) {
			t.Errorf("passwd kept the clashing %q:\n%s", gone, passwd)
		}
	}
	if strings.Contains(group, "runner:") || strings.Contains(shadow, "sandbox:!") {
		t.Errorf("a clashing group or shadow line survived:\n%s\n%s", group, shadow)
	}
	for _, kept := range []string{"root:x:0:0", "sshd:x:100", "sandbox:x:1001:1001:sandbox:/sandbox:/bin/bash"} {
		if !strings.Contains(passwd, kept) {
			t.Errorf("passwd lacks %q:\n%s", kept, passwd)
		}
	}
	if !strings.Contains(group, "shadow:x:42:") || !strings.Contains(group, "sandbox:x:1001:") || !strings.Contains(shadow, "sandbox:*:") {
		t.Errorf("group/shadow incomplete:\n%s\n%s", group, shadow)
	}
}
