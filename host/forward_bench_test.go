package host

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
)

// benchBulkBytes is the bulk transfer of SPEC §11 (1 GiB), fetched in
// benchBulkRounds requests.
const (
	benchBulkBytes  = 1 << 30
	benchBulkRounds = 4
	benchChunkBytes = benchBulkBytes / benchBulkRounds
)

// benchPings is the number of small requests timed per path.
const benchPings = 400

// BenchmarkForwardCompare measures, through one real sshd in one run, the
// forward daemon against OpenSSH `ssh -N -L` and against raw loopback (the
// ceiling): 1 GiB download throughput, and the latency of a small HTTP
// request on a fresh connection (what a dashboard page load does: each new
// TCP connection is a new SSH channel). It reports the daemon's idle RSS.
// Run: go test -run '^$' -bench ForwardCompare -benchtime 1x ./host/
// (scripts/bench-forward.sh). Figures are printed, never asserted.
//
// The machine may be shared, so it also reports what wall-clock figures
// cannot hide: the load average before and after, and the CPU time the
// daemon and the ssh client each spent per GiB and per request (from
// /proc/<pid>/stat, the same work measured in the same run).
func BenchmarkForwardCompare(b *testing.B) {
	testenv.RequireRoot(b)
	sshBin := testenv.RequireBinary(b, "ssh")
	bin := buildNemoclaw(b)
	e := newForwardEnv(b, bin)
	// Replace the dashboard with the bench server on a fresh port.
	port := e.startServer(http.HandlerFunc(benchHandler))
	e.register("demo", port)
	if code, out, errOut := e.run("demo", "forward", "start"); code != 0 {
		b.Fatalf("forward start: %d\n%s%s", code, out, errOut)
	}
	st := e.state("demo", port)
	time.Sleep(2 * time.Second) // let the daemon settle before reading idle RSS
	rssIdle := vmRSS(st.PID)

	// OpenSSH's forward to the same server through the same sshd.
	sshPort := testenv.FreePort(b)
	ssh := exec.Command(sshBin, "-F", e.srv.ConfigFile, "-N", "-o", "ExitOnForwardFailure=yes",
		"-L", fmt.Sprintf("127.0.0.1:%d:127.0.0.2:%d", sshPort, port), e.srv.Host)
	ssh.Stderr = os.Stderr
	if err := ssh.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ssh.Process.Kill(); ssh.Wait() })
	waitListening(b, sshPort)

	paths := []struct{ name, addr string }{
		{"nemoclaw-forward", fmt.Sprintf("127.0.0.1:%d", port)},
		{"openssh-L", fmt.Sprintf("127.0.0.1:%d", sshPort)},
		{"raw-loopback", fmt.Sprintf("127.0.0.2:%d", port)},
	}
	type result struct {
		mibps    float64
		p50, p99 time.Duration
	}
	results := map[string]result{}
	// CPU seconds of the two forwarding processes, per phase (teardown of
	// a connection included, which runs while the next path is measured).
	forwarders := map[string]int{"nemoclaw-forward": st.PID, "openssh-L": ssh.Process.Pid}
	cpuBulk, cpuPing := map[string]float64{}, map[string]float64{}
	load0 := loadAvg()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range paths {
			// Warm up: first connection, channel and server paths.
			if _, err := benchPing(p.addr); err != nil {
				b.Fatalf("%s: %v", p.name, err)
			}
		}
		// 1 GiB per path, in interleaved quarters for the same reason as
		// the small requests below.
		spent := map[string]time.Duration{}
		cpu := cpuOf(forwarders)
		for q := 0; q < benchBulkRounds; q++ {
			for _, p := range rotated(paths, q) {
				d, err := benchBulk(p.addr)
				if err != nil {
					b.Fatalf("%s bulk: %v", p.name, err)
				}
				spent[p.name] += d
			}
		}
		addCPU(cpuBulk, cpu, cpuOf(forwarders))
		for _, p := range paths {
			results[p.name] = result{mibps: float64(benchBulkBytes) / (1 << 20) / spent[p.name].Seconds()}
		}
		// Small requests interleaved across the paths, so that a change in
		// the machine's load hits all three alike. The order rotates each
		// round: the path measured right after another one shares the
		// machine with that one's connection teardown, and no path should
		// always be the one that does.
		samples := map[string][]time.Duration{}
		cpu = cpuOf(forwarders)
		for j := 0; j < benchPings; j++ {
			for _, p := range rotated(paths, j) {
				d, err := benchPing(p.addr)
				if err != nil {
					b.Fatalf("%s latency: %v", p.name, err)
				}
				samples[p.name] = append(samples[p.name], d)
			}
		}
		addCPU(cpuPing, cpu, cpuOf(forwarders))
		for _, p := range paths {
			r := results[p.name]
			r.p50, r.p99 = percentiles(samples[p.name])
			results[p.name] = r
		}
	}
	b.StopTimer()
	load1 := loadAvg()
	rssPeak := vmHWM(st.PID)
	time.Sleep(2 * time.Second)
	rssAfter := vmRSS(st.PID)

	ours, ossh, raw := results["nemoclaw-forward"], results["openssh-L"], results["raw-loopback"]
	b.ReportMetric(ours.mibps, "forward-MiB/s")
	b.ReportMetric(ossh.mibps, "openssh-MiB/s")
	b.ReportMetric(raw.mibps, "loopback-MiB/s")
	b.ReportMetric(ours.mibps/ossh.mibps, "throughput-vs-openssh")
	b.ReportMetric(float64(ours.p50.Microseconds()), "forward-p50-µs")
	b.ReportMetric(float64(ossh.p50.Microseconds()), "openssh-p50-µs")
	b.ReportMetric(float64(rssIdle)/1024, "daemon-idle-RSS-MiB")
	b.ReportMetric(float64(rssAfter)/1024, "daemon-after-RSS-MiB")

	var sb strings.Builder
	fmt.Fprintf(&sb, "\nforward benchmark (1 GiB download in %d interleaved parts, %d small requests on fresh connections, same sshd):\n", benchBulkRounds, benchPings)
	fmt.Fprintf(&sb, "  %-18s %12s %10s %10s\n", "path", "MiB/s", "p50", "p99")
	for _, p := range paths {
		r := results[p.name]
		fmt.Fprintf(&sb, "  %-18s %12.1f %10s %10s\n", p.name, r.mibps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond))
	}
	fmt.Fprintf(&sb, "  throughput: forward/openssh = %.2fx, forward/loopback = %.2fx, openssh/loopback = %.2fx\n",
		ours.mibps/ossh.mibps, ours.mibps/raw.mibps, ossh.mibps/raw.mibps)
	fmt.Fprintf(&sb, "  latency p50: forward/openssh = %.2fx; p99: forward/openssh = %.2fx\n",
		float64(ours.p50)/float64(ossh.p50), float64(ours.p99)/float64(ossh.p99))
	perGiB := func(name string) float64 { return cpuBulk[name] / float64(b.N) / (benchBulkBytes / (1 << 30)) }
	perReq := func(name string) float64 { return cpuPing[name] / float64(b.N*benchPings) * 1e6 }
	fmt.Fprintf(&sb, "  CPU time: forward %.2f s/GiB, %.0f µs/request; ssh -L %.2f s/GiB, %.0f µs/request (forward/ssh = %.2fx, %.2fx)\n",
		perGiB("nemoclaw-forward"), perReq("nemoclaw-forward"), perGiB("openssh-L"), perReq("openssh-L"),
		perGiB("nemoclaw-forward")/perGiB("openssh-L"), perReq("nemoclaw-forward")/perReq("openssh-L"))
	fmt.Fprintf(&sb, "  daemon RSS: idle after start %.1f MiB, peak %.1f MiB, idle after the run %.1f MiB\n",
		float64(rssIdle)/1024, float64(rssPeak)/1024, float64(rssAfter)/1024)
	fmt.Fprintf(&sb, "  load average (1 min) before %s, after %s (%d CPUs): figures taken under load are noisy; ratios less so\n",
		load0, load1, runtime.NumCPU())
	// One line per SPEC §11 figure, for scripts/bench.sh's table.
	bench := func(name string, value, ref float64, target string, ok bool, unit string) {
		ratio := "-"
		if ref > 0 {
			ratio = strconv.FormatFloat(value/ref, 'f', 3, 64)
		}
		fmt.Fprintf(&sb, "BENCH %s value=%.3f reference=%.3f ratio=%s target=%s ok=%t unit=%s\n", name, value, ref, ratio, target, ok, unit)
	}
	bench("forward-throughput-vs-ssh-L", ours.mibps, ossh.mibps, "ratio>=1.0", ours.mibps >= ossh.mibps, "MiB/s")
	bench("forward-p50-vs-ssh-L", float64(ours.p50.Microseconds()), float64(ossh.p50.Microseconds()), "ratio<=1.0", ours.p50 <= ossh.p50, "µs")
	bench("forward-p99-vs-ssh-L", float64(ours.p99.Microseconds()), float64(ossh.p99.Microseconds()), "ratio<=1.0", ours.p99 <= ossh.p99, "µs")
	fmt.Fprintf(&sb, "BENCH forward-daemon-idle-rss value=%.3f reference=- ratio=- target=value<=20MiB ok=%t unit=MiB\n", float64(rssAfter)/1024, float64(rssAfter)/1024 <= 20)
	fmt.Print(sb.String())
}

// benchHandler: /bulk streams benchBulkBytes, anything else is a tiny page.
func benchHandler(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/bulk" {
		io.WriteString(w, "pong")
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(benchChunkBytes))
	buf := make([]byte, 256<<10)
	for left := benchChunkBytes; left > 0; {
		n := min(left, len(buf))
		if _, err := w.Write(buf[:n]); err != nil {
			return
		}
		left -= n
	}
}

func benchClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
}

// benchBulk downloads one chunk and returns how long it took.
func benchBulk(addr string) (time.Duration, error) {
	start := time.Now()
	resp, err := benchClient().Get("http://" + addr + "/bulk")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf := make([]byte, 256<<10)
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{resp.Body}, buf)
	if err != nil {
		return 0, err
	}
	if n != benchChunkBytes {
		return 0, fmt.Errorf("got %d bytes, want %d", n, benchChunkBytes)
	}
	return time.Since(start), nil
}

func benchPing(addr string) (time.Duration, error) {
	start := time.Now()
	resp, err := benchClient().Get("http://" + addr + "/ping")
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "pong" {
		return 0, fmt.Errorf("ping: %q, %v", b, err)
	}
	return time.Since(start), nil
}

// percentiles returns the p50 and p99 of ds (sorted in place).
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)*50/100], ds[len(ds)*99/100]
}

// vmRSS is a process's resident set in KiB, from /proc/<pid>/status.
func vmRSS(pid int) int { return procStatus(pid, "VmRSS:") }

// vmHWM is a process's peak resident set in KiB.
func vmHWM(pid int) int { return procStatus(pid, "VmHWM:") }

func procStatus(pid int, field string) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// cpuSeconds is the user+system CPU time a process has used so far (all
// threads), from /proc/<pid>/stat; 0 for pid 0.
func cpuSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may contain spaces): utime and
	// stime are the 12th and 13th, in clock ticks (100 Hz on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100
}

func cpuOf(pids map[string]int) map[string]float64 {
	m := map[string]float64{}
	for name, pid := range pids {
		m[name] = cpuSeconds(pid)
	}
	return m
}

func addCPU(sum, before, after map[string]float64) {
	for name := range after {
		sum[name] += after[name] - before[name]
	}
}

// loadAvg is the 1-minute load average.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// rotated is paths starting at index i mod len(paths).
func rotated[T any](paths []T, i int) []T {
	k := i % len(paths)
	return append(append([]T(nil), paths[k:]...), paths[:k]...)
}

func waitListening(t testing.TB, port int) {
	ctx, cancel := context.WithTimeout(context.Background(), forwardHang)
	defer cancel()
	for ctx.Err() == nil {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on 127.0.0.1:%d", port)
}
