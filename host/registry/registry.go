// Package registry reads and writes the host registry of sandboxes,
// $HOME/.nemoclaw/sandboxes.json, in NemoClaw's format plus this project's
// optional per-sandbox "transport" object (SPEC §3.1).
//
// NemoClaw owns the file too, so every field this package does not know is
// carried through a read-modify-write untouched, and a file that does not
// parse is reported and never rewritten. It knows nothing of transports or
// agents beyond the names stored here.
package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/internal/statefs"
)

// Registry is the whole file.
type Registry struct {
	Sandboxes map[string]*Sandbox
	// DefaultSandbox is the default sandbox's name; "" is JSON null.
	DefaultSandbox string

	extra map[string]json.RawMessage
}

// Sandbox is one entry. Zero values mean "not set".
type Sandbox struct {
	Name                        string
	Agent                       string
	DashboardPort               int
	Model                       string
	Provider                    string
	GatewayName                 string
	HermesDashboardEnabled      bool
	HermesDashboardPort         int
	HermesDashboardInternalPort int
	HermesDashboardTui          bool
	HermesAPIPort               int
	Transport                   *Transport

	// extra holds every field as read, so unknown ones survive a write.
	extra map[string]json.RawMessage
}

// Transport says how to reach a sandbox. A nil Transport means OpenShell.
type Transport struct {
	Kind      string `json:"kind"`                // "openshell" or "ssh"
	SSHConfig string `json:"sshConfig,omitempty"` // OpenSSH client config file (kind ssh)
	Host      string `json:"host,omitempty"`      // Host alias in SSHConfig (kind ssh)
}

// Transport kinds.
const (
	KindOpenShell = "openshell"
	KindSSH       = "ssh"
)

// TransportKind is how the sandbox is reached: its transport object's
// kind, and OpenShell when there is none or it names none (SPEC §3.1).
func (sb *Sandbox) TransportKind() string {
	if sb.Transport == nil || sb.Transport.Kind == "" {
		return KindOpenShell
	}
	return sb.Transport.Kind
}

// ParseError reports a registry that does not parse, with the position of
// the problem. Its exit code is 2 (SPEC §2.3: unreadable registry).
type ParseError struct {
	Path      string
	Line, Col int
	Err       error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("registry %s:%d:%d does not parse: %v (it was left unchanged)", e.Path, e.Line, e.Col, e.Err)
}
func (e *ParseError) Unwrap() error { return e.Err }
func (e *ParseError) ExitCode() int { return exitcode.Usage }

// ReadError is a registry file that exists but cannot be read (permissions,
// a directory in its place, an I/O error). Exit 2, like a file that does
// not parse: nothing was tried and nothing is changed.
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("registry %s cannot be read: %v", e.Path, errors.Unwrap(e.Err))
}
func (e *ReadError) Unwrap() error { return e.Err }
func (e *ReadError) ExitCode() int { return exitcode.Usage }

// DefaultPath is the registry file under home.
func DefaultPath(home string) string { return filepath.Join(home, ".nemoclaw", "sandboxes.json") }

// StateDir is where host-side state (locks, forwards, logs) lives.
func StateDir(home string) string { return filepath.Join(home, ".nemoclaw", "state") }

// Names returns the registered sandbox names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.Sandboxes))
	for n := range r.Sandboxes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Load reads the registry at path. A missing file is an empty registry.
func Load(path string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Registry{Sandboxes: map[string]*Sandbox{}}, nil
	}
	if err != nil {
		return nil, &ReadError{Path: path, Err: err}
	}
	return Parse(path, data)
}

// Parse decodes registry bytes; path is used in error messages only.
func Parse(path string, data []byte) (*Registry, error) {
	r := &Registry{Sandboxes: map[string]*Sandbox{}}
	if len(bytes.TrimSpace(data)) == 0 {
		return r, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, parseError(path, data, err)
	}
	if top == nil {
		return nil, &ParseError{Path: path, Line: 1, Col: 1, Err: errors.New("top level is null, want an object")}
	}
	r.extra = top
	if raw, ok := top["sandboxes"]; ok && !isNull(raw) {
		var entries map[string]json.RawMessage
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, parseError(path, data, fmt.Errorf("\"sandboxes\": %w", err))
		}
		for name, e := range entries {
			sb, err := parseSandbox(name, e)
			if err != nil {
				return nil, parseError(path, data, fmt.Errorf("sandbox %q: %w", name, err))
			}
			r.Sandboxes[name] = sb
		}
	}
	if raw, ok := top["defaultSandbox"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &r.DefaultSandbox); err != nil {
			return nil, parseError(path, data, fmt.Errorf("\"defaultSandbox\": %w", err))
		}
	}
	return r, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func parseSandbox(key string, raw json.RawMessage) (*Sandbox, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	if fields == nil {
		fields = map[string]json.RawMessage{}
	}
	sb := &Sandbox{Name: key, extra: fields}
	str := func(k string, dst *string) {
		if v, ok := fields[k]; ok {
			_ = json.Unmarshal(v, dst) // a non-string is kept raw and ignored
		}
	}
	str("name", &sb.Name)
	if sb.Name == "" {
		sb.Name = key
	}
	str("agent", &sb.Agent)
	str("model", &sb.Model)
	str("provider", &sb.Provider)
	str("gatewayName", &sb.GatewayName)
	sb.DashboardPort = lenientPort(fields["dashboardPort"])
	sb.HermesDashboardPort = lenientPort(fields["hermesDashboardPort"])
	sb.HermesDashboardInternalPort = lenientPort(fields["hermesDashboardInternalPort"])
	sb.HermesAPIPort = lenientPort(fields["hermesApiPort"])
	if v, ok := fields["hermesDashboardEnabled"]; ok {
		_ = json.Unmarshal(v, &sb.HermesDashboardEnabled)
	}
	if v, ok := fields["hermesDashboardTui"]; ok {
		_ = json.Unmarshal(v, &sb.HermesDashboardTui)
	}
	if v, ok := fields["transport"]; ok && !isNull(v) {
		var t Transport
		if err := json.Unmarshal(v, &t); err != nil {
			return nil, fmt.Errorf("\"transport\": %w", err)
		}
		if t.Kind == "" {
			t.Kind = KindOpenShell
		}
		sb.Transport = &t
	}
	return sb, nil
}

// lenientPort reads a port written as a number or a numeric string; anything
// else (or out of range) is 0, "not set", so the caller's default applies
// (SPEC §3.2: "registry dashboardPort if valid").
func lenientPort(raw json.RawMessage) int {
	if raw == nil {
		return 0
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
		n = json.Number(s)
	}
	p, err := strconv.Atoi(string(n))
	if err != nil || p < 1 || p > 65535 {
		return 0
	}
	return p
}

func parseError(path string, data []byte, err error) error {
	var off int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
	}
	line, col := 1, 1
	if off >= 0 {
		line, col = position(data, off)
	}
	return &ParseError{Path: path, Line: line, Col: col, Err: err}
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col = 1, 1
	for _, b := range data[:off] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// Marshal encodes the registry, keeping unknown fields.
func (r *Registry) Marshal() ([]byte, error) {
	top := map[string]any{}
	for k, v := range r.extra {
		top[k] = v
	}
	entries := map[string]any{}
	for name, sb := range r.Sandboxes {
		entries[name] = sb.fields(name)
	}
	top["sandboxes"] = entries
	if r.DefaultSandbox == "" {
		top["defaultSandbox"] = nil
	} else {
		top["defaultSandbox"] = r.DefaultSandbox
	}
	out, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// fields merges the known fields over what was read. A known field is
// written when it is set, or when the file already had it (so a false or 0
// the file carried stays explicit).
func (sb *Sandbox) fields(key string) map[string]any {
	m := map[string]any{}
	for k, v := range sb.extra {
		m[k] = v
	}
	// A zero value over a null the file carried keeps the null: NemoClaw
	// writes "agent": null for OpenClaw sandboxes and reads it as such.
	set := func(k string, v any, nonZero bool) {
		raw, had := sb.extra[k]
		if nonZero || had && !isNull(raw) {
			m[k] = v
		}
	}
	name := sb.Name
	if name == "" {
		name = key
	}
	m["name"] = name
	set("agent", sb.Agent, sb.Agent != "")
	set("model", sb.Model, sb.Model != "")
	set("provider", sb.Provider, sb.Provider != "")
	set("gatewayName", sb.GatewayName, sb.GatewayName != "")
	setPort := func(k string, p int) {
		if p != 0 {
			m[k] = p
		}
	}
	setPort("dashboardPort", sb.DashboardPort)
	setPort("hermesDashboardPort", sb.HermesDashboardPort)
	setPort("hermesDashboardInternalPort", sb.HermesDashboardInternalPort)
	setPort("hermesApiPort", sb.HermesAPIPort)
	set("hermesDashboardEnabled", sb.HermesDashboardEnabled, sb.HermesDashboardEnabled)
	set("hermesDashboardTui", sb.HermesDashboardTui, sb.HermesDashboardTui)
	if sb.Transport != nil {
		m["transport"] = sb.Transport
	} else {
		delete(m, "transport")
	}
	return m
}

// Update locks the registry, loads it, applies fn, and writes the result
// atomically (temp file in the same directory, fsync, rename), file 0600 in
// a 0700 directory. A registry that does not parse is returned as a
// *ParseError and left as it is; so is everything when fn fails.
func Update(path string, fn func(*Registry) error) error {
	dir := filepath.Dir(path)
	if err := statefs.EnsurePrivateDir(dir); err != nil {
		return err
	}
	lock, err := statefs.LockWait(context.Background(), path+".lock")
	if err != nil {
		return fmt.Errorf("locking the registry: %w", err)
	}
	defer lock.Unlock()

	r, err := Load(path)
	if err != nil {
		return err
	}
	if err := fn(r); err != nil {
		return err
	}
	data, err := r.Marshal()
	if err != nil {
		return fmt.Errorf("encoding registry: %w", err)
	}
	return statefs.WriteAtomic(path, data)
}
