package templates_test

// The harness behind namespace_test.go: it runs one complete rendered
// payload, as a file (`sh payload.sh`) or on stdin (`sh -s`), under dash or
// bash, as root or as the unprivileged sandbox user, inside a fresh private
// mount + network + PID namespace whose /tmp, /usr/local/lib/nemoclaw,
// /usr/local/bin, /sandbox and account files are the sandbox's real paths
// (tmpfs, bind mounts and an overlay private to that namespace; the host is
// not touched). After the payload it leaves the namespace standing so the
// test can inspect every file through /proc/<pid 1>/root, then kills the
// namespace's PID 1 (which ends every process and mount in it).
//
// Everything a test asserts about the gateway comes from the test gateway
// itself (testdata/ns/gateway.js), which records its argv, ids,
// environment, stdio targets and which preload files really ran.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/shellquote"
)

// Paths and texts of SPEC §5.1–§5.3 the tests check against.
const (
	nsSafetyNetSrc = "/usr/local/lib/nemoclaw/preloads/sandbox-safety-net.js"
	nsCiaoSrc      = "/usr/local/lib/nemoclaw/preloads/ciao-network-guard.js"
	nsSafetyNetTmp = "/tmp/nemoclaw-sandbox-safety-net.js"
	nsCiaoTmp      = "/tmp/nemoclaw-ciao-network-guard.js"
	nsProxyEnv     = "/tmp/nemoclaw-proxy-env.sh"
	nsRecoveredEnv = "/tmp/nemoclaw-recovered-proxy-env.sh"
	nsGatewayLog   = "/tmp/gateway.log"
	nsFallbackLog  = "/tmp/gateway-recovery.log"
	nsLock         = "/tmp/nemoclaw-gateway-recovery.lock"

	// nsSecret is the raw secret value the secret-boundary cases put in
	// /sandbox/.hermes/.env or the runner's environment: it must never
	// appear in any output or log.
	nsSecret = "sk-nstest-SECRET-7f3a9c"
	// nsCleanHermesEnv is the .env a Hermes sandbox has by default: the
	// key holds an OpenShell resolver placeholder, not a secret.
	nsCleanHermesEnv = "OPENAI_API_KEY=openshell:resolve:env:OPENAI_API_KEY\n"

	nsMissingWarning = "[gateway-recovery] WARNING: /tmp/nemoclaw-proxy-env.sh missing or unsafe - restoring library guards from packaged preloads (#2478/#2701)"
	nsRestoringText  = "restoring library guards from packaged preloads"
	nsIncompleteText = "incomplete - rewriting library guards from packaged preloads"
	nsRefusalLine    = "[gateway-recovery] ERROR: NODE_OPTIONS missing safety-net preload or ciao preload after trusted recovery - refusing unguarded gateway relaunch (#2478/#2701)"
	nsOldWarnLine    = "gateway launching without library guards"

	nsSandboxUID = 1001
	nsGatewayUID = 1002
)

// nsT is what the checks report to: a *testing.T in the cases, and a
// recorder in the harness self-test that proves the checks can fail.
type nsT interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// nsSpec is one namespace run: the fixture, then the payloads.
type nsSpec struct {
	shell      string   // /bin/dash or /bin/bash
	asRoot     bool     // runner: root, or uid 1001 (sandbox) through setpriv
	scripts    [][]byte // complete payloads, run one after the other
	viaStdin   bool     // `sh -s < payload` (how the host pushes it) instead of `sh payload`
	concurrent bool     // start scripts[1] as soon as scripts[0] holds the lock
	fixture    string   // bash, as root, after fixture-lib.sh, before the payloads
	// noGatewayUser leaves the `gateway` account out of passwd/group.
	noGatewayUser bool
	// noBinaries leaves openclaw and hermes out of /usr/local/bin.
	noBinaries bool
	gw         map[string]any // the test gateway's knobs (/run/ns/gw.json)
	// validator installs testdata/ns/validator.py (the real validator's
	// interface) as the image's Hermes secret-boundary validator.
	validator bool
	// hermesEnv is /sandbox/.hermes/.env; empty means nsCleanHermesEnv.
	hermesEnv string
	// env adds NAME=value words to the runner's environment.
	env []string
	// umask is the runner's umask (default 022).
	umask string
	// loginShell runs the payload the way OpenShell execs: through
	// `bash -lc`, whose profile hook (setup.sh) sources a readable
	// /tmp/nemoclaw-proxy-env.sh first.
	loginShell bool
	// staleInit makes PID 1 an unkillable, never-healthy "openclaw gateway".
	staleInit bool
	// inference, when set, serves https://inference.local/v1/models with
	// this HTTP status (testdata/ns/inference.js); otherwise nothing listens.
	inference string
}

// nsRunOut is what one payload run produced.
type nsRunOut struct {
	rc       int
	stdout   string
	stderr   string
	events   []nsEvent
	badLines []string // stdout lines that are not machine lines of this run
}

// result returns the final result event, or nil.
func (o *nsRunOut) result() *nsEvent {
	for i := len(o.events) - 1; i >= 0; i-- {
		if o.events[i].kind == "result" {
			return &o.events[i]
		}
	}
	return nil
}

// outcome is the result event's outcome, or "" when there is none.
func (o *nsRunOut) outcome() string {
	if r := o.result(); r != nil {
		return r.f["outcome"]
	}
	return ""
}

// nsStart is one start of the test gateway, as it recorded itself.
type nsStart struct {
	Pid      int               `json:"pid"`
	UID      int               `json:"uid"`
	GID      int               `json:"gid"`
	EUID     int               `json:"euid"`
	Bin      string            `json:"bin"`
	Args     []string          `json:"args"`
	Role     string            `json:"role"`
	Port     int               `json:"port"`
	Env      map[string]string `json:"env"`
	Preloads []string          `json:"preloads"`
	Fds      []string          `json:"fds"`
	Umask    string            `json:"umask"`
	Sid      string            `json:"sid"`
	Fixture  bool              `json:"fixture"`
}

// nsResult is a finished namespace, still standing for inspection.
type nsResult struct {
	dir            string // host state directory (bound at /run/ns inside)
	root           string // /proc/<pid 1>/root: the namespace's filesystem view
	runs           []nsRunOut
	runIDs         []string
	starts         []nsStart // payload-launched starts (fixture starts excluded)
	fixtureStarts  []nsStart
	validatorCalls []string
	ps             string
	snapBefore     string
	snapAfter      string
	trusted        map[string][]byte // trusted preload bytes by /tmp target path
}

// nsFile is the state of one path inside the namespace (never followed).
type nsFile struct {
	exists bool
	kind   string // "file", "symlink", "dir", "fifo", "other"
	mode   os.FileMode
	uid    int
	gid    int
	data   []byte // regular files only
	target string // symlinks only
}

func (f nsFile) String() string {
	if !f.exists {
		return "absent"
	}
	s := fmt.Sprintf("%s %04o uid=%d gid=%d", f.kind, f.mode.Perm(), f.uid, f.gid)
	if f.kind == "symlink" {
		s += " -> " + f.target
	}
	if f.kind == "file" {
		s += fmt.Sprintf(" %d bytes", len(f.data))
	}
	return s
}

// file inspects path inside the namespace without following a final symlink
// and without ever opening a FIFO.
func (r *nsResult) file(path string) nsFile {
	p := filepath.Join(r.root, path)
	fi, err := os.Lstat(p)
	if err != nil {
		return nsFile{}
	}
	f := nsFile{exists: true, mode: fi.Mode()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		f.uid, f.gid = int(st.Uid), int(st.Gid)
	}
	switch {
	case fi.Mode().IsRegular():
		f.kind = "file"
		f.data, _ = os.ReadFile(p)
	case fi.Mode()&os.ModeSymlink != 0:
		f.kind = "symlink"
		f.target, _ = os.Readlink(p)
	case fi.IsDir():
		f.kind = "dir"
	case fi.Mode()&os.ModeNamedPipe != 0:
		f.kind = "fifo"
	default:
		f.kind = "other"
	}
	return f
}

// environ is /proc/<pid>/environ of a process still running in the
// namespace: what the kernel says it was started with.
func (r *nsResult) environ(pid int) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(r.root, "proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env, nil
}

// text is the content of a regular file inside the namespace, "" otherwise.
func (r *nsResult) text(path string) string { return string(r.file(path).data) }

// allText is everything the payload said anywhere: its stdout and stderr
// and both candidate logs.
func (r *nsResult) allText() string {
	var b strings.Builder
	for _, o := range r.runs {
		b.WriteString(o.stdout)
		b.WriteString(o.stderr)
	}
	b.WriteString(r.text(nsGatewayLog))
	b.WriteString(r.text(nsFallbackLog))
	return b.String()
}

// describe is the debugging dump printed when a case fails.
func (r *nsResult) describe() string {
	var b strings.Builder
	for i, o := range r.runs {
		fmt.Fprintf(&b, "--- run %d (id %s) exit %d\nstdout:\n%s\nstderr:\n%s\n", i, r.runIDs[i], o.rc, o.stdout, o.stderr)
	}
	for _, p := range []string{nsGatewayLog, nsFallbackLog} {
		fmt.Fprintf(&b, "--- %s: %s\n%s\n", p, r.file(p), r.text(p))
	}
	for _, p := range []string{nsSafetyNetTmp, nsCiaoTmp, nsProxyEnv, nsRecoveredEnv, nsLock} {
		fmt.Fprintf(&b, "--- %s: %s\n", p, r.file(p))
	}
	fmt.Fprintf(&b, "--- recovered env:\n%s\n", r.text(nsRecoveredEnv))
	for _, s := range r.starts {
		fmt.Fprintf(&b, "--- gateway start: pid=%d uid=%d args=%q NODE_OPTIONS=%q preloads=%v fds=%v\n",
			s.Pid, s.UID, s.Args, s.Env["NODE_OPTIONS"], s.Preloads, s.Fds)
	}
	times, _ := os.ReadFile(filepath.Join(r.dir, "out", "times"))
	fmt.Fprintf(&b, "--- ps:\n%s--- /tmp after:\n%s--- times:\n%s", r.ps, r.snapAfter, times)
	return b.String()
}

// nsEvent is one parsed machine line (§5.4 / the contract).
type nsEvent struct {
	kind string
	f    map[string]string
}

// nsParseStdout splits stdout into the run's events and everything else.
// It is the tests' own reading of the contract, independent of the package's
// parser, so a parser bug cannot hide a payload bug.
func nsParseStdout(runID, stdout string) (events []nsEvent, bad []string) {
	prefix := "@nemoclaw " + runID + " "
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if line == "" && stdout == "" {
			continue
		}
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			bad = append(bad, line)
			continue
		}
		parts := strings.Split(rest, " ")
		ev := nsEvent{kind: parts[0], f: map[string]string{}}
		valid := ev.kind != ""
		for _, kv := range parts[1:] {
			k, v, ok := strings.Cut(kv, "=")
			dv, err := nsPctDecode(v)
			if !ok || k == "" || err != nil {
				valid = false
				break
			}
			ev.f[k] = dv
		}
		if !valid {
			bad = append(bad, line)
			continue
		}
		events = append(events, ev)
	}
	return events, bad
}

// nsPctDecode undoes the contract's percent-encoding and rejects any byte
// that should have been encoded.
func nsPctDecode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return "", fmt.Errorf("truncated escape in %q", s)
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("bad escape in %q", s)
			}
			b.WriteByte(byte(n))
			i += 2
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', strings.IndexByte("._~/:@+,=-", c) >= 0:
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("unencoded byte %q in %q", c, s)
		}
	}
	return b.String(), nil
}

// nsRequireTokens counts, per path, how often NODE_OPTIONS requires it
// (`--require p`, `--require=p`, `-r p`), splitting on blanks only, never
// expanding anything, as node itself reads it.
func nsRequireTokens(nodeOptions string) map[string]int {
	n := map[string]int{}
	w := strings.Fields(nodeOptions)
	for i := 0; i < len(w); i++ {
		switch {
		case (w[i] == "--require" || w[i] == "-r") && i+1 < len(w):
			n[w[i+1]]++
			i++
		case strings.HasPrefix(w[i], "--require="):
			n[strings.TrimPrefix(w[i], "--require=")]++
		}
	}
	return n
}

var nsTestdata = "testdata/ns"

// nsAccounts returns the namespace's passwd and group: the host's, without
// anything already using the names or ids, plus sandbox (1001) and, unless
// left out, gateway (1002), as in LAB-NOTES §1.
func nsAccounts(withGateway bool) (passwd, group []byte, err error) {
	filter := func(path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var out bytes.Buffer
		for _, l := range strings.SplitAfter(string(b), "\n") {
			f := strings.Split(l, ":")
			if len(f) > 2 && (f[0] == "sandbox" || f[0] == "gateway" || f[2] == "1001" || f[2] == "1002") {
				continue
			}
			out.WriteString(l)
		}
		if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			out.WriteString("\n")
		}
		return out.Bytes(), nil
	}
	if passwd, err = filter("/etc/passwd"); err != nil {
		return nil, nil, err
	}
	if group, err = filter("/etc/group"); err != nil {
		return nil, nil, err
	}
	passwd = append(passwd, "sandbox:x:1001:1001:sandbox:/sandbox:/bin/bash\n"...)
	group = append(group, "sandbox:x:1001:\n"...)
	if withGateway {
		passwd = append(passwd, "gateway:x:1002:1002:gateway:/sandbox:/usr/sbin/nologin\n"...)
		group = append(group, "gateway:x:1002:\n"...)
	}
	return passwd, group, nil
}

// nsInner is the generated script run after setup.sh: fixture, snapshot,
// payloads, snapshot, process list, then the done marker, then (as PID 1)
// reaping until the test kills the namespace.
func nsInner(sp nsSpec) string {
	var b strings.Builder
	b.WriteString(`#!/bin/bash
# Generated per case by nstest_harness_test.go.
set -u
N=/run/ns
cd /
snap() {
	find /tmp -mindepth 1 -printf '%P|%y|%U|%G|%m|%s|%l|%i\n' 2>&1 | LC_ALL=C sort
	(cd /tmp && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum) 2>&1
}
( . "$N/fixture-lib.sh" && . "$N/fixture.sh" ) >"$N/out/fixture.log" 2>&1 || echo "fixture exit $?" >"$N/out/fixture-failed"
snap >"$N/out/snap-before"
echo "fixture done $(date +%s.%N)" >>"$N/out/times"
`)
	env := "PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8"
	for _, kv := range sp.env {
		env += " " + shellquote.Quote(kv)
	}
	home := "/sandbox"
	if sp.asRoot {
		home = "/root"
	}
	if sp.loginShell {
		// An empty home: the host's dotfiles are not the sandbox's.
		home = "/sandbox/.home"
	}
	var runner string
	if sp.asRoot {
		runner = "env -i " + env + " HOME=" + home + " USER=root LOGNAME=root"
	} else {
		runner = "setpriv --reuid=1001 --regid=1001 --init-groups env -i " + env + " HOME=" + home + " USER=sandbox LOGNAME=sandbox"
	}
	shell := shellquote.Quote(sp.shell)
	if sp.loginShell {
		shell = `/bin/bash -lc 'exec "$0" "$@"' ` + shell
	}
	umask := sp.umask
	if umask == "" {
		umask = "022"
	}
	b.WriteString("run() {\n\ti=$1\n\tumask " + umask + "\n")
	if sp.viaStdin {
		fmt.Fprintf(&b, "\ttimeout -k 3 120 %s %s -s <\"$N/payload-$i.sh\" >\"$N/out/stdout-$i\" 2>\"$N/out/stderr-$i\"\n", runner, shell)
	} else {
		fmt.Fprintf(&b, "\ttimeout -k 3 120 %s %s \"$N/payload-$i.sh\" </dev/null >\"$N/out/stdout-$i\" 2>\"$N/out/stderr-$i\"\n", runner, shell)
	}
	b.WriteString("\techo $? >\"$N/out/rc-$i\"\n\techo \"run $i ended $(date +%s.%N)\" >>\"$N/out/times\"\n}\n")
	if sp.concurrent {
		b.WriteString(`run 0 &
first=$!
for _ in $(seq 1 1000); do [ -d ` + nsLock + ` ] && break; sleep 0.01; done
run 1
wait "$first"
`)
	} else {
		for i := range sp.scripts {
			fmt.Fprintf(&b, "run %d\n", i)
		}
	}
	b.WriteString(`snap >"$N/out/snap-after"
ps -eo pid,ppid,uid,stat,args >"$N/out/ps"
touch "$N/out/done"
if [ "$$" = 1 ]; then
	while :; do sleep 3600 & wait $! || true; done
fi
`)
	return b.String()
}

// nsRun builds and runs one namespace and returns it finished and still
// standing; t.Cleanup kills it. Any harness failure is fatal to t.
func nsRun(t *testing.T, sp nsSpec, runIDs []string) *nsResult {
	t.Helper()
	r, err := nsStartAndWait(t, sp, runIDs)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return r
}

func nsStartAndWait(t *testing.T, sp nsSpec, runIDs []string) (*nsResult, error) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	passwd, group, err := nsAccounts(!sp.noGatewayUser)
	if err != nil {
		return nil, err
	}
	gw, err := os.ReadFile(filepath.Join(nsTestdata, "gateway.js"))
	if err != nil {
		return nil, err
	}
	cfg := sp.gw
	if cfg == nil {
		cfg = map[string]any{}
	}
	cfgJSON, _ := json.Marshal(cfg)
	files := []nsHostFile{
		{"etc/passwd", 0o644, passwd},
		{"etc/group", 0o644, group},
		{"etc/hosts", 0o644, []byte("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n127.0.0.1 inference.local\n")},
		{"gw.json", 0o644, cfgJSON},
		{"inner.sh", 0o644, []byte(nsInner(sp))},
		{"fixture.sh", 0o644, []byte(nsInferenceFixture(sp.inference) + sp.fixture + "\n")},
	}
	for _, name := range []string{"setup.sh", "fixture-lib.sh", "sandbox-safety-net.js", "ciao-network-guard.js"} {
		b, err := os.ReadFile(filepath.Join(nsTestdata, name))
		if err != nil {
			return nil, err
		}
		dst := name
		if strings.HasSuffix(name, ".js") {
			dst = "preloads/" + name
		}
		files = append(files, nsHostFile{dst, 0o644, b})
	}
	if !sp.noBinaries {
		files = append(files, nsHostFile{"bin/openclaw", 0o755, gw}, nsHostFile{"bin/hermes", 0o755, gw})
	}
	if sp.validator {
		v, err := os.ReadFile(filepath.Join(nsTestdata, "validator.py"))
		if err != nil {
			return nil, err
		}
		files = append(files, nsHostFile{"validator.py", 0o755, v})
	}
	hermesEnv := sp.hermesEnv
	if hermesEnv == "" {
		hermesEnv = nsCleanHermesEnv
	}
	files = append(files, nsHostFile{"hermes.env", 0o644, []byte(hermesEnv)})
	if sp.staleInit {
		files = append(files, nsHostFile{"stale-init", 0o644, nil})
	}
	if sp.inference != "" {
		js, err := os.ReadFile(filepath.Join(nsTestdata, "inference.js"))
		if err != nil {
			return nil, err
		}
		files = append(files, nsHostFile{"inference.js", 0o644, js})
	}
	for i, s := range sp.scripts {
		files = append(files, nsHostFile{fmt.Sprintf("payload-%d.sh", i), 0o644, s})
	}
	for _, d := range []string{"etc", "bin", "preloads", "out"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	// The gateway (uid 1001, 1002 or 0) and the validator record here.
	if err := os.Mkdir(filepath.Join(dir, "rec"), 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(filepath.Join(dir, "rec"), 0o1777); err != nil {
		return nil, err
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return nil, err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return nil, err
		}
	}

	if sp.inference != "" {
		out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
			"-nodes", "-days", "2", "-subj", "/CN=inference.local", "-addext", "subjectAltName=DNS:inference.local",
			"-keyout", filepath.Join(dir, "tls.key"), "-out", filepath.Join(dir, "tls.crt")).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("making the inference test certificate: %v: %s", err, out)
		}
	}

	nsLog, err := os.Create(filepath.Join(dir, "ns.log"))
	if err != nil {
		return nil, err
	}
	defer nsLog.Close()
	cmd := exec.Command("unshare", "--mount", "--net", "--pid", "--fork", "--kill-child",
		"--propagation", "private", "--mount-proc", "/bin/bash", filepath.Join(dir, "setup.sh"), dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nsLog, nsLog
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	// If the test binary dies, unshare dies, and --kill-child takes the
	// namespace with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting unshare: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	pid1 := 0
	t.Cleanup(func() {
		if pid1 > 0 {
			_ = syscall.Kill(pid1, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("harness: unshare %d did not exit after SIGKILL", cmd.Process.Pid)
		}
	})

	children := fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid)
	done := filepath.Join(dir, "out", "done")
	deadline := time.Now().Add(300 * time.Second) // hang protection only
	for {
		if pid1 == 0 {
			if b, err := os.ReadFile(children); err == nil {
				if f := strings.Fields(string(b)); len(f) > 0 {
					pid1, _ = strconv.Atoi(f[0])
				}
			}
		}
		if _, err := os.Stat(done); err == nil && pid1 > 0 {
			break
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "ns.log"))
			return nil, fmt.Errorf("namespace ended before the case finished; setup log:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "ns.log"))
			return nil, fmt.Errorf("case did not finish within the hang budget; setup log:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out", "fixture-failed")); err == nil {
		log, _ := os.ReadFile(filepath.Join(dir, "out", "fixture.log"))
		return nil, fmt.Errorf("fixture failed (%s):\n%s", strings.TrimSpace(string(b)), log)
	}

	r := &nsResult{dir: dir, root: fmt.Sprintf("/proc/%d/root", pid1), runIDs: runIDs, trusted: map[string][]byte{}}
	for i := range sp.scripts {
		var o nsRunOut
		rc, err := os.ReadFile(filepath.Join(dir, "out", fmt.Sprintf("rc-%d", i)))
		if err != nil {
			return nil, fmt.Errorf("run %d left no exit status: %w", i, err)
		}
		o.rc, _ = strconv.Atoi(strings.TrimSpace(string(rc)))
		so, _ := os.ReadFile(filepath.Join(dir, "out", fmt.Sprintf("stdout-%d", i)))
		se, _ := os.ReadFile(filepath.Join(dir, "out", fmt.Sprintf("stderr-%d", i)))
		o.stdout, o.stderr = string(so), string(se)
		o.events, o.badLines = nsParseStdout(runIDs[i], o.stdout)
		r.runs = append(r.runs, o)
	}
	recs, _ := filepath.Glob(filepath.Join(dir, "rec", "start-*.json"))
	sort.Strings(recs)
	for _, p := range recs {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var s nsStart
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("gateway record %s: %w", p, err)
		}
		if s.Fixture {
			r.fixtureStarts = append(r.fixtureStarts, s)
		} else {
			r.starts = append(r.starts, s)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "rec", "validator.log")); err == nil {
		r.validatorCalls = strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	ps, _ := os.ReadFile(filepath.Join(dir, "out", "ps"))
	before, _ := os.ReadFile(filepath.Join(dir, "out", "snap-before"))
	after, _ := os.ReadFile(filepath.Join(dir, "out", "snap-after"))
	r.ps, r.snapBefore, r.snapAfter = string(ps), string(before), string(after)
	for tmp, name := range map[string]string{nsSafetyNetTmp: "sandbox-safety-net.js", nsCiaoTmp: "ciao-network-guard.js"} {
		b, err := os.ReadFile(filepath.Join(nsTestdata, name))
		if err != nil {
			return nil, err
		}
		r.trusted[tmp] = b
	}
	return r, nil
}

// nsInferenceFixture starts the inference stand-in before the case's own
// fixture, and waits until it answers.
func nsInferenceFixture(status string) string {
	if status == "" {
		return ""
	}
	return `/usr/bin/node "$N/inference.js" "$N/tls.key" "$N/tls.crt" ` + shellquote.Quote(status) + ` </dev/null >>"$N/out/inference.log" 2>&1 &
for _ in $(seq 1 500); do curl -sk -o /dev/null --max-time 1 https://inference.local/v1/models && break; sleep 0.02; done
`
}

// nsHostFile is one file of a case's host state directory.
type nsHostFile struct {
	name string
	mode os.FileMode
	data []byte
}

// nsEnsureSandboxDir creates the empty /sandbox mount point on the host once
// (LAB-NOTES §3: a mount point must exist; the lab needs the same one).
func nsEnsureSandboxDir() error {
	fi, err := os.Lstat("/sandbox")
	if err == nil {
		if !fi.IsDir() {
			return errors.New("/sandbox exists and is not a directory")
		}
		return nil
	}
	return os.Mkdir("/sandbox", 0o755)
}
