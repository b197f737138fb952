package sandboxexec_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// BenchmarkExecTrue measures one round trip of `true` to the same sshd, in
// the same iterations (so load affects all three alike), three ways:
// OpenSSH's `ssh -F cfg alias true` (a fresh process and connection), this
// transport with a fresh connection (DialSSH, Run, Close), and this
// transport over one reused connection (Run only). It reports each in ms and
// the ratios to OpenSSH (issue 4 targets: fresh ≤ 1.0, reused ≪ 1).
func BenchmarkExecTrue(b *testing.B) {
	s := sshdtest.Start(b)
	sshBin := testenv.RequireBinary(b, "ssh")
	ctx := context.Background()
	reused, err := sandboxexec.DialSSH(ctx, s.Target(), sandboxexec.SSHOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer reused.Close()
	runTrue := func(tr sandboxexec.Transport) {
		out, err := tr.Run(ctx, sandboxexec.Command{Script: "true"})
		if err != nil || out.Kind != sandboxexec.Exited || out.Code != 0 {
			b.Fatalf("true: %v %v", out, err)
		}
	}
	runTrue(reused) // warm up sshd and the page cache for all three

	var openssh, fresh, again time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if out, err := exec.Command(sshBin, "-F", s.ConfigFile, s.Host, "true").CombinedOutput(); err != nil {
			b.Fatalf("ssh: %v %s", err, out)
		}
		t1 := time.Now()
		tr, err := sandboxexec.DialSSH(ctx, s.Target(), sandboxexec.SSHOptions{})
		if err != nil {
			b.Fatal(err)
		}
		runTrue(tr)
		tr.Close()
		t2 := time.Now()
		runTrue(reused)
		t3 := time.Now()
		openssh += t1.Sub(t0)
		fresh += t2.Sub(t1)
		again += t3.Sub(t2)
	}
	b.StopTimer()
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d) / n / float64(time.Millisecond) }
	b.ReportMetric(ms(openssh), "openssh-ms/op")
	b.ReportMetric(ms(fresh), "fresh-ms/op")
	b.ReportMetric(ms(again), "reused-ms/op")
	b.ReportMetric(float64(fresh)/float64(openssh), "fresh/openssh")
	b.ReportMetric(float64(again)/float64(openssh), "reused/openssh")
}
