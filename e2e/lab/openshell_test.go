package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/testenv"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// shimRun runs the OpenShell test double as a caller would.
func shimRun(t *testing.T, shim string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, shim, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("running %s: %v", shim, err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

func dashboard(port int) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func processGone(pid int) bool {
	_, st, err := procStart(pid)
	return err != nil || st == "Z" || st == "X"
}

func waitProcessGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // hang protection
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still running", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The test double's `forward start|list|stop` against a real lab sandbox:
// OpenShell's output format and exit codes, the gateway flag, and a real
// ssh -L forward underneath (the dashboard answers through it; killing the
// ssh makes the row dead; stop frees the port; down stops what is left).
func TestOpenShellDoubleForwards(t *testing.T) {
	requireLab(t)
	t.Parallel()
	o := testOptions(t, "osfwd")
	o.Port = testenv.FreePort(t)
	s := upT(t, o)
	shimDir := t.TempDir()
	shim, err := WriteOpenShellShim(shimDir, o)
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(o.Port)
	ctx := ctxT(t)

	// Nothing yet: OpenShell says so on stderr and prints no table.
	if out, errOut, code := shimRun(t, shim, "forward", "list"); code != 0 || out != "" || errOut != "No active forwards.\n" {
		t.Fatalf("empty forward list: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	_, errOut, code := shimRun(t, shim, "-g", LabGateway, "forward", "start", "--background", port, "osfwd")
	if code != 0 || !strings.Contains(errOut, "Forwarding port "+port+" to sandbox osfwd in the background") ||
		!strings.Contains(errOut, "Stop with: openshell forward stop "+port+" osfwd") {
		t.Fatalf("forward start --background: exit %d\n%s", code, errOut)
	}
	if body, err := dashboard(o.Port); err != nil || !strings.Contains(body, "<title>OpenClaw Control</title>") {
		t.Fatalf("dashboard through the double's forward: %q, %v", body, err)
	}

	// The table, byte for byte in OpenShell's layout: SANDBOX at least 7
	// wide, BIND at least 4, PORT 8, PID 10, status in green.
	out, _, code := shimRun(t, shim, "forward", "list")
	row := regexp.MustCompile(`^SANDBOX BIND      PORT     PID        STATUS\nosfwd   127\.0\.0\.1 ` + port + ` +([0-9]+) +\x1b\[32mrunning\x1b\[39m\n$`)
	m := row.FindStringSubmatch(out)
	if code != 0 || m == nil || len(strings.Split(out, "\n")[1]) != len("osfwd   127.0.0.1 ")+8+1+10+1+len("\x1b[32mrunning\x1b[39m") {
		t.Fatalf("forward list: exit %d, %q", code, out)
	}
	pid, _ := strconv.Atoi(m[1])
	args, _ := exec.Command("cat", fmt.Sprintf("/proc/%d/cmdline", pid)).Output()
	if !strings.Contains(string(args), "ssh\x00") || !strings.Contains(string(args), "-L\x00127.0.0.1:"+port+":127.0.0.1:"+port+"\x00") {
		t.Fatalf("pid %d in the list is not an ssh -L forward: %q", pid, args)
	}
	// What the host reads of it.
	rows, err := sandboxexec.OpenShellForwards(ctx, shim, LabGateway)
	if err != nil || len(rows) != 1 || rows[0].Sandbox != "osfwd" || rows[0].Port != o.Port || rows[0].PID != pid || !rows[0].Live() {
		t.Fatalf("OpenShellForwards: %+v, %v", rows, err)
	}

	// The port is taken: by our forward, OpenShell names it; by anything
	// else, it says so too. Both exit 1.
	if _, errOut, code := shimRun(t, shim, "forward", "start", "-d", port, "osfwd"); code != 1 || !strings.Contains(errOut, "already forwarded to sandbox 'osfwd'") {
		t.Errorf("second start on the same port: exit %d\n%s", code, errOut)
	}
	squat, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	sq := strconv.Itoa(squat.Addr().(*net.TCPAddr).Port)
	if _, errOut, code := shimRun(t, shim, "forward", "start", "-d", sq, "osfwd"); code != 1 || !strings.Contains(errOut, "Port "+sq+" is already in use by another process") {
		t.Errorf("start on a squatted port: exit %d\n%s", code, errOut)
	}
	// Unknown sandbox and unknown gateway, as OpenShell reports them.
	if _, errOut, code := shimRun(t, shim, "forward", "start", "-d", strconv.Itoa(testenv.FreePort(t)), "nope"); code != 1 || !strings.Contains(errOut, "NotFound") {
		t.Errorf("start for a sandbox that does not exist: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := shimRun(t, shim, "-g", "other", "sandbox", "get", "osfwd"); code != 1 || !strings.Contains(errOut, "Unknown gateway 'other'") {
		t.Errorf("an unknown gateway: exit %d\n%s", code, errOut)
	}
	// The flag is global: any of clap's spellings, before or after the
	// subcommand.
	for _, args := range [][]string{
		{"--gateway=" + LabGateway, "sandbox", "get", "osfwd"},
		{"sandbox", "get", "osfwd", "--gateway", LabGateway},
		{"sandbox", "-g" + LabGateway, "get", "osfwd"},
	} {
		if out, errOut, code := shimRun(t, shim, args...); code != 0 || !strings.Contains(out, "Phase: Ready") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}

	// The ssh dies: the row stays, dead, in red; the host sees it not live.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitProcessGone(t, pid)
	out, _, _ = shimRun(t, shim, "forward", "list")
	if !strings.HasSuffix(out, " \x1b[31mdead\x1b[39m\n") {
		t.Errorf("forward list after the ssh died: %q", out)
	}
	rows, err = sandboxexec.OpenShellForwards(ctx, shim, LabGateway)
	if err != nil || len(rows) != 1 || rows[0].Live() || rows[0].Status != "dead" {
		t.Errorf("OpenShellForwards after the ssh died: %+v, %v", rows, err)
	}
	// Stopping a dead row removes it (OpenShell says it stopped it).
	if err := sandboxexec.OpenShellForwardStop(ctx, shim, LabGateway, o.Port, "osfwd"); err != nil {
		t.Fatalf("OpenShellForwardStop of a dead row: %v", err)
	}
	if out, errOut, _ := shimRun(t, shim, "forward", "list"); out != "" || errOut != "No active forwards.\n" {
		t.Errorf("forward list after stop: %q %q", out, errOut)
	}
	// Nothing to stop: exit 0, and OpenShell's yellow notice.
	if _, errOut, code := shimRun(t, shim, "forward", "stop", port, "osfwd"); code != 0 || errOut != "\x1b[33m!\x1b[39m No active forward found for port "+port+" on sandbox osfwd\n" {
		t.Errorf("stop with nothing to stop: exit %d, %q", code, errOut)
	}

	// A live forward: stop kills its ssh and frees the port.
	if _, errOut, code := shimRun(t, shim, "forward", "start", "--background", port, "osfwd"); code != 0 {
		t.Fatalf("forward start again: exit %d\n%s", code, errOut)
	}
	rows, _ = sandboxexec.OpenShellForwards(ctx, shim, "")
	if len(rows) != 1 || !rows[0].Live() {
		t.Fatalf("the second forward is not listed running: %+v", rows)
	}
	live := rows[0].PID
	if _, errOut, code := shimRun(t, shim, "forward", "stop", port); code != 0 || !strings.Contains(errOut, "Found forward on sandbox 'osfwd'") ||
		!strings.Contains(errOut, "\x1b[1m\x1b[32m✓\x1b[39m\x1b[0m Stopped forward of port "+port+" for sandbox osfwd") {
		t.Fatalf("forward stop <port> (name found from the list): exit %d, %q", code, errOut)
	}
	waitProcessGone(t, live)
	if l, err := net.Listen("tcp4", "127.0.0.1:"+port); err != nil {
		t.Errorf("port %s still taken after forward stop: %v", port, err)
	} else {
		l.Close()
	}

	// down stops the double's forwards for the sandbox, as OpenShell's
	// sandbox delete does.
	if _, errOut, code := shimRun(t, shim, "forward", "start", "-d", port, "osfwd"); code != 0 {
		t.Fatalf("forward start before down: exit %d\n%s", code, errOut)
	}
	rows, _ = sandboxexec.OpenShellForwards(ctx, shim, "")
	if len(rows) != 1 || !rows[0].Live() {
		t.Fatalf("the forward before down is not running: %+v", rows)
	}
	if err := s.Down(); err != nil {
		t.Fatalf("down: %v", err)
	}
	waitProcessGone(t, rows[0].PID)
	if out, _, _ := shimRun(t, shim, "forward", "list"); out != "" {
		t.Errorf("forward list after down: %q", out)
	}

	// Every call was recorded with its arguments, the gateway flag included.
	calls, err := ReadOpenShellArgv(shimDir)
	if err != nil || len(calls) < 2 {
		t.Fatalf("argv log: %v, %v", calls, err)
	}
	want := []string{"-g", LabGateway, "forward", "start", "--background", port, "osfwd"}
	if strings.Join(calls[1], " ") != strings.Join(want, " ") {
		t.Errorf("second call recorded as %q, want %q", calls[1], want)
	}
	if filepath.Dir(OpenShellArgvLog(shimDir)) != shimDir {
		t.Errorf("argv log %s is not in the shim's directory", OpenShellArgvLog(shimDir))
	}
}
