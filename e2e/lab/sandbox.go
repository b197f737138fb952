package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/sandboxspec"
)

// Sandbox is one lab sandbox, as Up made it or Open found it.
type Sandbox struct {
	Name string
	// Dir is the sandbox's state directory on the host (root, 0700).
	Dir string
	// SSHConfig is the OpenSSH client config registered for the sandbox, and
	// Host the alias in it.
	SSHConfig string
	Host      string
	// KnownHosts pins the sandbox's host key under the alias (HostKeyAlias).
	KnownHosts string
	// PID1 is the host PID of the sandbox's init. It changes on Recreate.
	PID1 int
	// Options are the resolved options the sandbox was made with.
	Options Options

	st state
}

// state is what the lab records about a running sandbox, in Dir/state.json.
// PID1 alone does not identify a sandbox (PIDs wrap); PID1 with its start
// time does (LAB-NOTES §7).
type state struct {
	Options     Options   `json:"options"`
	PID1        int       `json:"pid1"`
	PID1Start   uint64    `json:"pid1StartTicks"`
	PIDNS       string    `json:"pidNamespace"` // readlink /proc/PID1/ns/pid
	LauncherPID int       `json:"launcherPid"`
	Started     time.Time `json:"started"`
	Recreated   bool      `json:"recreated"`
}

// ErrNotFound is returned (wrapped) for a sandbox the lab has no state for.
var ErrNotFound = errors.New("no such lab sandbox")

// ErrNotRunning is returned (wrapped) when a sandbox's PID 1 is gone.
var ErrNotRunning = errors.New("lab sandbox is not running")

func sandboxDir(o Options) string          { return filepath.Join(o.LabDir, o.Name) }
func statePath(dir string) string          { return filepath.Join(dir, "state.json") }
func aliasFor(name string) string          { return "nemoclaw-lab-" + name }
func (s *Sandbox) path(p ...string) string { return filepath.Join(append([]string{s.Dir}, p...)...) }

func newSandbox(o Options) *Sandbox {
	dir := sandboxDir(o)
	return &Sandbox{
		Name:       o.Name,
		Dir:        dir,
		SSHConfig:  filepath.Join(dir, "ssh_config"),
		Host:       aliasFor(o.Name),
		KnownHosts: filepath.Join(dir, "known_hosts"),
		Options:    o,
	}
}

// Open finds a sandbox Up made earlier (in any process). Only Name and the
// location fields of o are used.
func Open(o Options) (*Sandbox, error) {
	o, err := o.withLocations()
	if err != nil {
		return nil, err
	}
	if err := ValidateName(o.Name); err != nil {
		return nil, err
	}
	dir := sandboxDir(o)
	data, err := os.ReadFile(statePath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sandbox %s (in %s): %w", o.Name, o.LabDir, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading lab state: %w", err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("reading lab state %s: %w", statePath(dir), err)
	}
	// The recorded options win, except for where things live now.
	rec := st.Options
	rec.Home, rec.LabDir, rec.CacheDir = o.Home, o.LabDir, o.CacheDir
	if o.LabBinary != "" {
		rec.LabBinary = o.LabBinary
	}
	s := newSandbox(rec)
	s.st = st
	s.PID1 = st.PID1
	return s, nil
}

// List returns the names of the sandboxes in the lab directory, sorted.
func List(o Options) ([]string, error) {
	o, err := o.withLocations()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(o.LabDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", o.LabDir, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && sandboxspec.ValidName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

func (s *Sandbox) saveState() error {
	data, err := json.MarshalIndent(s.st, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath(s.Dir) + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing lab state: %w", err)
	}
	if err := os.Rename(tmp, statePath(s.Dir)); err != nil {
		return fmt.Errorf("writing lab state: %w", err)
	}
	return nil
}

// procStart returns a process's start time (clock ticks after boot,
// /proc/PID/stat field 22) and its state letter.
func procStart(pid int) (start uint64, stateLetter string, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", err
	}
	// The command name (field 2) may contain spaces and parentheses: the
	// fields after it start after the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, "", fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return 0, "", fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0], err
}

// running reports whether the recorded PID 1 is still this sandbox's PID 1
// (same PID and start time, not a zombie).
func (s *Sandbox) running() bool {
	if s.st.PID1 <= 0 {
		return false
	}
	start, st, err := procStart(s.st.PID1)
	return err == nil && start == s.st.PID1Start && st != "Z" && st != "X"
}

func (s *Sandbox) requireRunning() error {
	if !s.running() {
		return fmt.Errorf("sandbox %s (PID 1 was %d): %w; run `nemoclaw-lab down %s` and up it again", s.Name, s.st.PID1, ErrNotRunning, s.Name)
	}
	return nil
}

// Process is one process inside a sandbox, seen from the host.
type Process struct {
	PID   int      // host PID
	NSPID int      // PID inside the sandbox
	PPID  int      // host PID of the parent
	UID   int      // real uid
	State string   // /proc state letter (R, S, Z, ...)
	Comm  string   // /proc/PID/comm
	Args  []string // /proc/PID/cmdline
}

// Processes lists the processes in the sandbox's PID namespace, by reading
// the host's /proc (no process is started inside).
func (s *Sandbox) Processes() ([]Process, error) {
	if err := s.requireRunning(); err != nil {
		return nil, err
	}
	return processesInNamespace(s.st.PIDNS)
}

func processesInNamespace(pidns string) ([]Process, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err != nil || ns != pidns {
			continue
		}
		p, err := readProcess(pid)
		if err != nil {
			continue // exited meanwhile
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NSPID < out[j].NSPID })
	return out, nil
}

func readProcess(pid int) (Process, error) {
	p := Process{PID: pid}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "State":
			p.State = f[0]
		case "PPid":
			p.PPID, _ = strconv.Atoi(f[0])
		case "Uid":
			p.UID, _ = strconv.Atoi(f[0])
		case "NSpid":
			p.NSPID, _ = strconv.Atoi(f[len(f)-1])
		}
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	p.Comm = strings.TrimSpace(string(comm))
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if s := strings.TrimRight(string(cmdline), "\x00"); s != "" {
		p.Args = strings.Split(s, "\x00")
	}
	return p, nil
}

// IsGateway reports whether p is an agent gateway or Hermes dashboard: an
// argument whose base name is openclaw (or openclaw.mjs) followed by
// "gateway", hermes followed by "gateway" or "dashboard", or a process
// titled openclaw or openclaw-gateway (the real OpenClaw's titles). Wrapper shells (`sh -c '... openclaw gateway
// run'`) do not count: their command is one argument.
func (p Process) IsGateway() bool {
	if p.State == "Z" {
		return false
	}
	// The real OpenClaw retitles itself: "openclaw" while it starts, then
	// "openclaw-gateway" (its argv is gone from /proc/PID/cmdline).
	if len(p.Args) == 1 && (p.Args[0] == "openclaw" || strings.HasPrefix(p.Args[0], "openclaw-gateway")) {
		return true
	}
	for i := 0; i+1 < len(p.Args); i++ {
		switch filepath.Base(p.Args[i]) {
		case "openclaw", "openclaw.mjs", "openclaw.js":
			if p.Args[i+1] == "gateway" {
				return true
			}
		case "hermes":
			if p.Args[i+1] == "gateway" || p.Args[i+1] == "dashboard" {
				return true
			}
		}
	}
	return false
}

// GatewayProcesses lists the sandbox's running gateway processes.
func (s *Sandbox) GatewayProcesses() ([]Process, error) {
	all, err := s.Processes()
	if err != nil {
		return nil, err
	}
	var gw []Process
	for _, p := range all {
		if p.IsGateway() {
			gw = append(gw, p)
		}
	}
	return gw, nil
}

// HostPath is where a path inside the sandbox can be read from the host
// (through /proc/PID1/root, which resolves in the sandbox's mounts).
func (s *Sandbox) HostPath(inside string) string {
	return fmt.Sprintf("/proc/%d/root%s", s.st.PID1, filepath.Clean("/"+inside))
}
