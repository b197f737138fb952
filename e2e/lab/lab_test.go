package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/host/registry"
)

// The acceptance path of issue 3 on one stub sandbox, in order: OpenSSH with
// strict host key checking, the dashboard inside, the guard chain and the
// gateway's NODE_OPTIONS, /tmp privacy, wipe-tmp (with and without the
// gateway), recreate.
func TestSandboxLifecycle(t *testing.T) {
	requireLab(t)
	t.Parallel()
	s := upT(t, testOptions(t, "t1"))
	ctx := ctxT(t)

	t.Run("openssh logs in as sandbox with strict host key checking", func(t *testing.T) {
		out, err := exec.Command("ssh", "-G", "-F", s.SSHConfig, s.Host).Output()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "stricthostkeychecking true") {
			t.Fatalf("ssh -G does not show strict host key checking:\n%s", out)
		}
		got, err := sshRun(t, s, "id -un")
		if err != nil || strings.TrimSpace(got) != "sandbox" {
			t.Fatalf("ssh id -un = %q, %v; want sandbox", got, err)
		}
		// The ProxyCommand relay half-closes: stdin reaches the remote
		// command's EOF and the reply still comes back.
		cmd := exec.CommandContext(ctxT(t), "ssh", "-F", s.SSHConfig, s.Host, "wc -c")
		cmd.Stdin = strings.NewReader("twelve bytes")
		out, err = cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != "12" {
			t.Fatalf("ssh wc -c through the relay: %q, %v", out, err)
		}
		// No relay and no session outlives ssh (LAB-NOTES §7: a relay that
		// cannot half-close leaves both behind).
		for ctx := ctxT(t); ; time.Sleep(20 * time.Millisecond) {
			ps, _ := exec.Command("ps", "-eo", "args").Output()
			relays := strings.Count(string(ps), "proxy --lab-dir "+s.Options.LabDir)
			sessions := 0
			procs, _ := s.Processes()
			for _, p := range procs {
				if strings.HasPrefix(strings.Join(p.Args, " "), "sshd: sandbox") {
					sessions++
				}
			}
			if relays == 0 && sessions == 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("after ssh exited: %d relays and %d sshd sessions left", relays, sessions)
			}
		}
	})

	t.Run("a wrong pinned key is refused", func(t *testing.T) {
		// Same config, another known_hosts: proves the pin is checked.
		other := filepath.Join(t.TempDir(), "known_hosts")
		pub, err := writeKeyPair(filepath.Join(t.TempDir(), "k"), "x")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(pub)
		os.WriteFile(other, []byte(s.Host+" "+f[0]+" "+f[1]+"\n"), 0o600)
		out, err := exec.Command("ssh", "-F", s.SSHConfig, "-o", "UserKnownHostsFile="+other, s.Host, "true").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "REMOTE HOST IDENTIFICATION HAS CHANGED") {
			t.Fatalf("ssh with a wrong pinned key: err=%v out=%s", err, out)
		}
	})

	t.Run("registered with the ssh transport", func(t *testing.T) {
		r, err := registry.Load(registry.DefaultPath(s.Options.Home))
		if err != nil {
			t.Fatal(err)
		}
		e := r.Sandboxes["t1"]
		if e == nil || e.Agent != "openclaw" || e.DashboardPort != 18789 || e.Transport == nil ||
			e.Transport.Kind != "ssh" || e.Transport.SSHConfig != s.SSHConfig || e.Transport.Host != s.Host {
			t.Fatalf("registry entry = %+v (transport %+v)", e, e.Transport)
		}
	})

	t.Run("dashboard and inference answer inside", func(t *testing.T) {
		page := mustOutput(t, s, "sandbox", "curl", "-sS", "--max-time", "5", "http://127.0.0.1:18789/")
		if !strings.Contains(page, "<title>OpenClaw Control</title>") {
			t.Fatalf("dashboard page: %q", page)
		}
		models := mustOutput(t, s, "sandbox", "curl", "-sSk", "--max-time", "5", "https://inference.local/v1/models")
		var m struct {
			Data []struct{ ID string }
		}
		if err := json.Unmarshal([]byte(models), &m); err != nil || len(m.Data) == 0 {
			t.Fatalf("inference.local/v1/models: %q (%v)", models, err)
		}
	})

	t.Run("guard chain as a root entrypoint writes it", func(t *testing.T) {
		for _, f := range []string{"nemoclaw-proxy-env.sh", "nemoclaw-sandbox-safety-net.js", "nemoclaw-ciao-network-guard.js"} {
			fi, err := os.Lstat(s.HostPath("/tmp/" + f))
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if fi.Mode() != 0o444 || st.Uid != 0 || st.Gid != 0 {
				t.Errorf("/tmp/%s: mode %v uid %d gid %d; want 0444 root:root", f, fi.Mode(), st.Uid, st.Gid)
			}
		}
		for _, g := range []string{"sandbox-safety-net.js", "ciao-network-guard.js"} {
			trusted, _ := os.ReadFile(s.HostPath("/usr/local/lib/nemoclaw/preloads/" + g))
			staged, _ := os.ReadFile(s.HostPath("/tmp/nemoclaw-" + g))
			if len(trusted) == 0 || !bytes.Equal(trusted, staged) {
				t.Errorf("staged %s differs from the trusted source", g)
			}
		}
		// The trusted sources pass their own SHA256SUMS, checked by a real sha256sum.
		mustOutput(t, s, "sandbox", "sh", "-c", "cd /usr/local/lib/nemoclaw/preloads && sha256sum -c --strict SHA256SUMS")
		// Nothing of this reached the host's /usr/local/lib.
		if _, err := os.Stat("/usr/local/lib/nemoclaw/preloads/SHA256SUMS"); err == nil {
			t.Errorf("host /usr/local/lib/nemoclaw/preloads exists: the overlay leaked")
		}
	})

	t.Run("gateway runs as gateway with both guards in NODE_OPTIONS", func(t *testing.T) {
		gw, err := s.GatewayProcesses()
		if err != nil || len(gw) != 1 {
			t.Fatalf("gateway processes = %+v, %v; want 1", gw, err)
		}
		if gw[0].UID != gatewayUID {
			t.Errorf("gateway uid %d, want %d", gw[0].UID, gatewayUID)
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", gw[0].PID))
		if err != nil {
			t.Fatal(err)
		}
		var nodeOptions string
		for _, kv := range strings.Split(string(env), "\x00") {
			if v, ok := strings.CutPrefix(kv, "NODE_OPTIONS="); ok {
				nodeOptions = v
			}
		}
		for _, want := range []string{"--require /tmp/nemoclaw-sandbox-safety-net.js", "--require /tmp/nemoclaw-ciao-network-guard.js"} {
			if !strings.Contains(nodeOptions, want) {
				t.Errorf("gateway NODE_OPTIONS %q lacks %q", nodeOptions, want)
			}
		}
	})

	t.Run("tmp is private", func(t *testing.T) {
		hostFile, err := os.CreateTemp("", "nemoclaw-lab-host-marker-")
		if err != nil {
			t.Fatal(err)
		}
		hostFile.Close()
		defer os.Remove(hostFile.Name())
		mustOutput(t, s, "sandbox", "sh", "-c", "echo inside >/tmp/nemoclaw-lab-inside-marker")
		if _, err := os.Stat("/tmp/nemoclaw-lab-inside-marker"); err == nil {
			os.Remove("/tmp/nemoclaw-lab-inside-marker")
			t.Fatal("a file written to /tmp inside appeared in the host's /tmp")
		}
		if code, _ := s.Exec(ctx, "root", []string{"test", "-e", hostFile.Name()}, nil, nil, nil); code == 0 {
			t.Fatalf("the host's %s is visible inside", hostFile.Name())
		}

		// wipe-tmp without --kill-gateway: /tmp empty, gateway alive, host /tmp untouched.
		if err := s.WipeTmp(ctx, false); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(hostFile.Name()); err != nil {
			t.Fatalf("wipe-tmp touched the host's /tmp: %v", err)
		}
		if left := mustOutput(t, s, "root", "ls", "-A", "/tmp"); left != "" {
			t.Fatalf("/tmp after wipe-tmp: %q", left)
		}
		if gw, _ := s.GatewayProcesses(); len(gw) != 1 {
			t.Fatalf("wipe-tmp without --kill-gateway: gateway processes %+v", gw)
		}
	})

	t.Run("wipe-tmp --kill-gateway leaves /tmp empty and no gateway", func(t *testing.T) {
		mustOutput(t, s, "sandbox", "touch", "/tmp/again")
		if err := s.WipeTmp(ctx, true); err != nil {
			t.Fatal(err)
		}
		if left := mustOutput(t, s, "root", "ls", "-A", "/tmp"); left != "" {
			t.Fatalf("/tmp: %q", left)
		}
		if gw, _ := s.GatewayProcesses(); len(gw) != 0 {
			t.Fatalf("gateway processes after --kill-gateway: %+v", gw)
		}
		if err := s.KillGateway(ctx, syscall.SIGTERM); err == nil {
			t.Fatal("KillGateway with no gateway succeeded")
		}
	})

	t.Run("recreate leaves only sshd and a fresh /tmp", func(t *testing.T) {
		mustOutput(t, s, "sandbox", "touch", "/tmp/before-recreate")
		old := s.PID1
		if err := s.Recreate(ctx); err != nil {
			t.Fatal(err)
		}
		if s.PID1 == old {
			t.Fatalf("PID 1 unchanged (%d) after recreate", old)
		}
		if other := otherProcesses(t, s); len(other) != 0 {
			t.Fatalf("processes besides PID 1, sshd and inference.local: %v", other)
		}
		if left := mustOutput(t, s, "root", "ls", "-A", "/tmp"); left != "" {
			t.Fatalf("/tmp after recreate: %q", left)
		}
		// Same host key: the pinned known_hosts still works, through a
		// ProxyCommand that now finds the new PID 1.
		if got, err := sshRun(t, s, "id -un"); err != nil || strings.TrimSpace(got) != "sandbox" {
			t.Fatalf("ssh after recreate: %q, %v", got, err)
		}
		// The image content is back (the payload relaunches from it).
		mustOutput(t, s, "sandbox", "test", "-x", "/usr/local/bin/openclaw")
	})
}

// The stub is what makes a passing recovery test mean something: without
// both guard preloads it must exit, with them it must serve.
func TestStubGatewayNeedsBothGuards(t *testing.T) {
	requireLab(t)
	t.Parallel()
	s := upT(t, testOptions(t, "guards"))
	ctx := ctxT(t)
	const sn, ciao = "/tmp/nemoclaw-sandbox-safety-net.js", "/tmp/nemoclaw-ciao-network-guard.js"
	cases := []struct {
		why         string
		nodeOptions string
	}{
		{"no guards at all: the crash-loop of an unguarded gateway", ""},
		{"safety net only: the ciao guard is what stops the EPERM crash", "--require " + sn},
		{"ciao guard only: the safety net must be there too", "--require " + ciao},
		{"a path that only looks like the guard does not count", "--require /tmp/not-nemoclaw-sandbox-safety-net.js --require " + ciao},
	}
	mustOutput(t, s, "root", "cp", "/usr/local/lib/nemoclaw/preloads/sandbox-safety-net.js", "/tmp/not-nemoclaw-sandbox-safety-net.js")
	mustOutput(t, s, "root", "sed", "-i", "s/__nemoclawLabSafetyNet/__somethingElse/g", "/tmp/not-nemoclaw-sandbox-safety-net.js")
	for i, c := range cases {
		port := fmt.Sprint(18900 + i)
		var stderr bytes.Buffer
		// Exec returns only when the stub has exited: that is the assertion
		// (the context is hang protection, not a timing requirement).
		code, err := s.Exec(ctx, "sandbox", []string{"env", "NODE_OPTIONS=" + c.nodeOptions, "openclaw", "gateway", "run", "--port", port}, nil, nil, &stderr)
		if err != nil {
			t.Fatalf("%s: %v", c.why, err)
		}
		if code == 0 || !strings.Contains(stderr.String(), "guard preload(s) not loaded") {
			t.Errorf("%s: exit %d, stderr %q", c.why, code, stderr.String())
		}
	}

	// With both guards it serves, and keeps serving.
	started := make(chan struct{})
	var runErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		close(started)
		_, runErr = s.Exec(ctx, "sandbox", []string{"env", "NODE_OPTIONS=--require " + sn + " --require " + ciao, "openclaw", "gateway", "run", "--port", "18950"}, nil, nil, nil)
	}()
	<-started
	var body []byte
	for ; ; time.Sleep(20 * time.Millisecond) {
		code, b, err := s.HTTPGet(ctx, "127.0.0.1:18950", "/")
		if err == nil && code == 200 {
			body = b
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("guarded stub never answered: %v", err)
		}
	}
	if !strings.Contains(string(body), "<title>OpenClaw Control</title>") {
		t.Errorf("guarded stub page: %q", body)
	}
	if code, _, err := s.HTTPGet(ctx, "127.0.0.1:18950", "/health"); err != nil || code != 200 {
		t.Errorf("guarded stub /health: %d, %v", code, err)
	}
	if err := s.KillGateway(ctx, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
}

// The variants of the entrypoint: each is a situation the recovery must
// handle, so each must really be what it claims.
func TestEntrypointVariants(t *testing.T) {
	requireLab(t)
	t.Parallel()

	t.Run("nonroot entrypoint: guard chain and gateway owned by sandbox", func(t *testing.T) {
		t.Parallel()
		o := testOptions(t, "nonroot")
		o.EntrypointMode = EntrypointNonRoot
		s := upT(t, o)
		fi, err := os.Lstat(s.HostPath("/tmp/nemoclaw-proxy-env.sh"))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode() != 0o444 || st.Uid != sandboxUID {
			t.Errorf("proxy-env mode %v uid %d; want 0444 sandbox", fi.Mode(), st.Uid)
		}
		gw, _ := s.GatewayProcesses()
		if len(gw) != 1 || gw[0].UID != sandboxUID {
			t.Errorf("gateway processes %+v; want one, uid %d", gw, sandboxUID)
		}
	})

	t.Run("legacy proxy-env: no guards, so the gateway died", func(t *testing.T) {
		t.Parallel()
		o := testOptions(t, "legacy")
		o.Agent = AgentHermes
		o.LegacyProxyEnv = true
		s := upT(t, o)
		env := mustOutput(t, s, "root", "cat", "/tmp/nemoclaw-proxy-env.sh")
		if !strings.Contains(env, "HTTPS_PROXY=") || strings.Contains(env, "NODE_OPTIONS") {
			t.Errorf("legacy proxy-env: %q", env)
		}
		// The entrypoint started the gateway; wait for it to be gone.
		ctx := ctxT(t)
		for {
			log, _ := os.ReadFile(s.HostPath("/tmp/gateway.log"))
			gw, err := s.GatewayProcesses()
			if err != nil {
				t.Fatal(err)
			}
			if len(gw) == 0 && strings.Contains(string(log), "guard preload(s) not loaded") {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("legacy gateway still running or no refusal logged: %+v, log %q", gw, log)
			case <-time.After(20 * time.Millisecond):
			}
		}
	})

	t.Run("hermes: API health on 8642 and the dashboard on the port", func(t *testing.T) {
		t.Parallel()
		o := testOptions(t, "hermes")
		o.Agent = AgentHermes
		o.Port = 18795
		o.ExecUser = UserRoot
		s := upT(t, o)
		out := mustOutput(t, s, "sandbox", "sh", "-c", "curl -sS http://localhost:8642/health && curl -sS http://127.0.0.1:18795/")
		if !strings.Contains(out, `"ok":true`) || !strings.Contains(out, "<title>Hermes Agent</title>") {
			t.Errorf("hermes answers: %q", out)
		}
		// --exec-user root: the registered config logs in as root.
		if got, err := sshRun(t, s, "id -un"); err != nil || strings.TrimSpace(got) != "root" {
			t.Errorf("ssh as exec user root: %q, %v", got, err)
		}
		// The dashboard command of SPEC §5.2 also works, guarded.
		ctx := ctxT(t)
		go s.Exec(ctx, "sandbox", []string{"sh", "-c", ". /tmp/nemoclaw-proxy-env.sh && exec hermes dashboard --host 127.0.0.1 --port 19119 --skip-build --no-open"}, nil, nil, nil)
		for ; ; time.Sleep(20 * time.Millisecond) {
			if code, body, err := s.HTTPGet(ctx, "127.0.0.1:19119", "/"); err == nil && code == 200 && strings.Contains(string(body), "Hermes Agent") {
				break
			}
			if ctx.Err() != nil {
				t.Fatal("hermes dashboard never answered")
			}
		}
	})
}

// Ten sandboxes at once, each with its own port, all answer; DownAll then
// leaves no process, namespace or mount of theirs.
func TestTenSandboxes(t *testing.T) {
	requireLab(t)
	t.Parallel()
	base := testOptions(t, "")
	ctx := ctxT(t)
	sandboxes := make([]*Sandbox, 10)
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range sandboxes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			o := base
			o.Name = fmt.Sprintf("fleet%d", i)
			o.Port = 18789 + i
			sandboxes[i], errs[i] = Up(ctx, o)
		}(i)
	}
	wg.Wait()
	t.Cleanup(func() { _ = DownAll(base) })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("fleet%d: %v", i, err)
		}
	}
	for i, s := range sandboxes {
		wg.Add(1)
		go func(i int, s *Sandbox) {
			defer wg.Done()
			port := 18789 + i
			out, err := sshRun(t, s, fmt.Sprintf("curl -sS --max-time 5 http://127.0.0.1:%d/", port))
			if err != nil || !strings.Contains(out, "<title>OpenClaw Control</title>") {
				errs[i] = fmt.Errorf("fleet%d port %d: %v: %s", i, port, err, out)
			}
		}(i, s)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	r, _ := registry.Load(registry.DefaultPath(base.Home))
	if len(r.Sandboxes) != 10 {
		t.Errorf("registry holds %d sandboxes, want 10", len(r.Sandboxes))
	}

	var pidns []string
	for _, s := range sandboxes {
		pidns = append(pidns, s.st.PIDNS)
	}
	if err := DownAll(base); err != nil {
		t.Fatal(err)
	}
	assertNoLabLeft(t, base, pidns)
	if err := DownAll(base); err != nil {
		t.Fatalf("second DownAll: %v", err)
	}
}

// ownedBy reports whether the PID namespace these processes share belongs
// to a sandbox under labDir: its PID 1 is the lab's init with that state dir.
func ownedBy(procs []Process, labDir string) bool {
	for _, p := range procs {
		if p.NSPID == 1 {
			return strings.Contains(strings.Join(p.Args, " "), labDir)
		}
	}
	return true // no PID 1 seen (racing with its exit): count it as ours
}

// assertNoLabLeft checks with ps and findmnt (and /proc) that nothing of the
// given sandboxes survives.
func assertNoLabLeft(t *testing.T, o Options, pidns []string) {
	t.Helper()
	for _, ns := range pidns {
		procs, _ := processesInNamespace(ns)
		if len(procs) != 0 && !ownedBy(procs, o.LabDir) {
			// The kernel reuses namespace inode numbers: once ours is gone,
			// another test's sandbox (other packages run in parallel) can
			// get the same pid:[N]. Its PID 1 names its own lab dir.
			continue
		}
		if len(procs) != 0 {
			t.Errorf("processes left in %s: %+v", ns, procs)
		}
	}
	ps, err := exec.Command("ps", "-eo", "pid,stat,args").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ps), "\n") {
		if strings.Contains(line, o.LabDir) {
			t.Errorf("ps shows a lab process: %s", line)
		}
	}
	mnt, err := exec.Command("findmnt", "-rn", "-o", "SOURCE,TARGET").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mnt), "\n") {
		if strings.HasPrefix(line, "lab-") || strings.Contains(line, o.LabDir) {
			t.Errorf("findmnt shows a lab mount: %s", line)
		}
	}
	entries, _ := os.ReadDir(o.LabDir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left in the lab dir: %s", e.Name())
		}
	}
	r, err := registry.Load(registry.DefaultPath(o.Home))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Sandboxes) != 0 {
		t.Errorf("registry still holds %v", r.Names())
	}
}

// A failed Up leaves nothing half-made: refused before anything starts
// (no lab-deps), and failed after PID 1 started (readiness timed out).
func TestUpRollsBackOnFailure(t *testing.T) {
	requireLab(t)
	t.Parallel()
	o := testOptions(t, "rollback")
	o.Gateway = GatewayOpenClaw
	o.CacheDir = t.TempDir()
	_, err := Up(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "make lab-deps") {
		t.Fatalf("Up with no lab-deps: %v", err)
	}
	assertNoLabLeft(t, o, nil)

	o = testOptions(t, "rollback")
	o.ReadyTimeout = time.Nanosecond
	_, err = Up(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), context.DeadlineExceeded.Error()) {
		t.Fatalf("Up with no time to get ready: %v", err)
	}
	assertNoLabLeft(t, o, nil)

	// Duplicate names are refused and leave the first sandbox intact.
	o = testOptions(t, "dup")
	s := upT(t, o)
	if _, err := Up(context.Background(), o); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second Up of dup: %v", err)
	}
	if got, err := sshRun(t, s, "id -un"); err != nil || strings.TrimSpace(got) != "sandbox" {
		t.Fatalf("first dup after the refused second: %q, %v", got, err)
	}
}
