package cli

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/e2e/harness"
	"github.com/nemoclaw/nemoclaw-go/e2e/lab"
	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// Benchmarks of SPEC §11 that need the recover flow. Each measures its
// figure and the reference side by side, pair by pair in the same loop, so
// the machine's load hits both alike; they report medians and the median
// of the per-pair ratios, and assert nothing (`make bench` prints them).

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func medianF(f []float64) float64 {
	s := append([]float64(nil), f...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// timed runs a command and returns its wall time; it fails the benchmark
// when the command fails.
func timed(b *testing.B, env []string, name string, args ...string) time.Duration {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(t0)
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return d
}

// BenchmarkRecoverNoop: `nemoclaw <name> recover` on a healthy sandbox
// (the whole run: registry, connection, payload, forward check, dashboard
// probe, report) against OpenSSH's `ssh -F <cfg> <host> true` to the same
// sshd. Target: ratio ≤ 1.0.
func BenchmarkRecoverNoop(b *testing.B) {
	harness.RequireLab(b)
	s, env := harness.LabT(b, "bnoop", lab.Options{})
	nc := harness.Bin("nemoclaw")
	timed(b, env, nc, s.Name, "recover", "--quiet") // forward up, guard chain written
	var ours, ssh []time.Duration
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o := timed(b, env, nc, s.Name, "recover", "--quiet")
		r := timed(b, env, "ssh", "-F", s.SSHConfig, s.Host, "true")
		ours, ssh, ratios = append(ours, o), append(ssh, r), append(ratios, float64(o)/float64(r))
	}
	b.StopTimer()
	b.ReportMetric(msOf(median(ours)), "recover-ms")
	b.ReportMetric(msOf(median(ssh)), "ssh-true-ms")
	b.ReportMetric(medianF(ratios), "ratio")
	benchLine("noop-recover-vs-ssh-true", msOf(median(ours)), msOf(median(ssh)), medianF(ratios), "ratio<=1.0", medianF(ratios) <= 1.0, "ms")
}

// benchLines are the figures of the benchmarks' last runs (a benchmark
// function runs once per b.N tried; only the final figure counts),
// printed by TestMain once all have run.
var benchLines = map[string]string{}

// benchLine records one figure for scripts/bench.sh's table:
// BENCH <name> value=<v> reference=<r> ratio=<x> target=<t> ok=<bool> unit=<u>
// (reference or ratio "-" where the figure has none).
func benchLine(name string, value, reference, ratio float64, target string, ok bool, unit string) {
	f := func(x float64) string {
		if x < 0 {
			return "-"
		}
		return strconv.FormatFloat(x, 'f', 3, 64)
	}
	benchLines[name] = fmt.Sprintf("BENCH %s value=%s reference=%s ratio=%s target=%s ok=%t unit=%s", name, f(value), f(reference), f(ratio), target, ok, unit)
}

// BenchmarkRecoveryOverhead: `recover --settle 0` after a gateway kill,
// minus the gateway's own cold start measured in the same loop by starting
// it directly inside the sandbox (guards loaded, polled until healthy).
// Target: ≤ 150 ms.
func BenchmarkRecoveryOverhead(b *testing.B) {
	harness.RequireLab(b)
	s, env := harness.LabT(b, "bover", lab.Options{})
	nc := harness.Bin("nemoclaw")
	timed(b, env, nc, s.Name, "recover", "--quiet")
	ctx := context.Background()
	port := strconv.Itoa(s.Options.Port)
	// The gateway as the entrypoint would start it, timed from inside.
	cold := `NODE_OPTIONS="--require /tmp/nemoclaw-sandbox-safety-net.js --require /tmp/nemoclaw-ciao-network-guard.js"
export NODE_OPTIONS
t0=$(date +%s%N)
openclaw gateway run --port ` + port + ` >/dev/null 2>&1 &
pid=$!
until curl -s -o /dev/null --max-time 1 http://127.0.0.1:` + port + `/health; do sleep 0.005; done
t1=$(date +%s%N)
kill -9 "$pid"
echo $(( (t1 - t0) / 1000 ))`
	var overhead, recoverT, coldT []time.Duration
	// Each iteration starts with no gateway: killed here first, then by the
	// cold-start script itself.
	if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := timed(b, env, nc, s.Name, "recover", "--settle", "0", "--quiet")
		if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		out, err := s.Output(ctx, "sandbox", "sh", "-c", cold)
		if err != nil {
			b.Fatalf("cold start: %v\n%s", err, out)
		}
		us, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			b.Fatalf("cold start printed %q", out)
		}
		c := time.Duration(us) * time.Microsecond
		recoverT, coldT, overhead = append(recoverT, r), append(coldT, c), append(overhead, r-c)
	}
	b.StopTimer()
	b.ReportMetric(msOf(median(recoverT)), "recover-ms")
	b.ReportMetric(msOf(median(coldT)), "cold-start-ms")
	b.ReportMetric(msOf(median(overhead)), "overhead-ms")
	benchLine("recovery-overhead", msOf(median(overhead)), msOf(median(coldT)), -1, "value<=150ms", msOf(median(overhead)) <= 150, "ms")
}

// BenchmarkFleet: `recover --all --parallel 20` over 20 stub sandboxes
// whose gateways were all killed, against the slowest single recovery of
// the same sandboxes (each recovered alone, after its own kill) measured
// in the same loop. Target: ratio ≤ 1.5.
func BenchmarkFleet(b *testing.B) {
	harness.RequireLab(b)
	const n = 20
	first, env := harness.LabT(b, "fleet0", lab.Options{})
	boxes := []*lab.Sandbox{first}
	ctx := context.Background()
	for i := 1; i < n; i++ {
		o := first.Options
		o.Name = fmt.Sprintf("fleet%d", i)
		o.Port = testenv.FreePort(b)
		s, err := lab.Up(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Down() })
		boxes = append(boxes, s)
	}
	nc := harness.Bin("nemoclaw")
	timed(b, env, nc, "recover", "--all", "--parallel", strconv.Itoa(n), "--quiet") // forwards up
	killAll := func() {
		for _, s := range boxes {
			if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil {
				b.Fatal(err)
			}
		}
	}
	var fleet, slowest []time.Duration
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var worst time.Duration
		for _, s := range boxes {
			if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil {
				b.Fatal(err)
			}
			worst = max(worst, timed(b, env, nc, s.Name, "recover", "--settle", "0", "--quiet"))
		}
		killAll()
		f := timed(b, env, nc, "recover", "--all", "--parallel", strconv.Itoa(n), "--settle", "0", "--quiet")
		fleet, slowest, ratios = append(fleet, f), append(slowest, worst), append(ratios, float64(f)/float64(worst))
	}
	b.StopTimer()
	b.ReportMetric(msOf(median(fleet)), "fleet-ms")
	b.ReportMetric(msOf(median(slowest)), "slowest-single-ms")
	b.ReportMetric(medianF(ratios), "ratio")
	benchLine("fleet-20-vs-slowest-single", msOf(median(fleet)), msOf(median(slowest)), medianF(ratios), "ratio<=1.5", medianF(ratios) <= 1.5, "ms")
}

// BenchmarkVersion: `nemoclaw version`, the whole process. Target ≤ 20 ms.
func BenchmarkVersion(b *testing.B) {
	nc := harness.Bin("nemoclaw")
	var d []time.Duration
	for i := 0; i < b.N; i++ {
		d = append(d, timed(b, nil, nc, "version"))
	}
	b.ReportMetric(msOf(median(d)), "version-ms")
	benchLine("version-startup", msOf(median(d)), -1, -1, "value<=20ms", msOf(median(d)) <= 20, "ms")
}
