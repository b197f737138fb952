package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Ports handed out are never handed out again while the holder lives, in
// this process or another, and lie below the ephemeral range.
func TestReservePortIsExclusive(t *testing.T) {
	if os.Getenv("TESTENV_RESERVE_CHILD") != "" {
		var ps []string
		for i := 0; i < 200; i++ {
			p, err := ReservePort()
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, strconv.Itoa(p))
		}
		os.Stdout.WriteString(strings.Join(ps, " ") + "\n")
		return
	}
	seen := map[int]bool{}
	for i := 0; i < 200; i++ {
		p := FreePort(t)
		if seen[p] || p < 20000 || p >= 32768 {
			t.Fatalf("port %d handed out twice or outside 20000-32767", p)
		}
		seen[p] = true
	}
	// Another process, while this one holds its 200, gets none of them.
	cmd := exec.Command(os.Args[0], "-test.run=^TestReservePortIsExclusive$")
	cmd.Env = append(os.Environ(), "TESTENV_RESERVE_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, f := range strings.Fields(strings.SplitN(string(out), "\n", 2)[0]) {
		p, _ := strconv.Atoi(f)
		if seen[p] {
			t.Fatalf("another process was handed port %d, which this one holds", p)
		}
	}
}
