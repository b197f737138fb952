package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nemoclaw/nemoclaw-go/internal/sandboxspec"
	"github.com/nemoclaw/nemoclaw-go/templates"
)

// AgentProfile is an agent as the host sees it (SPEC §3.2): what the payload
// needs (templates.Agent) plus what only the host uses.
type AgentProfile struct {
	templates.Agent
	// ForwardPorts are forwarded from host loopback to the sandbox; the
	// first is the dashboard.
	ForwardPorts []int
	// DashboardMarker is the text expected in the dashboard's <title>
	// (optional evidence; a 2xx HTML page without it is only a warning).
	DashboardMarker string
}

// customAgentFile is ~/.nemoclaw/agents/<name>.json. gatewayCommand may be
// an argv array or one string split on spaces (no shell is involved either
// way); --port <port> is appended to it.
type customAgentFile struct {
	DisplayName     string          `json:"displayName"`
	GatewayCommand  json.RawMessage `json:"gatewayCommand"`
	HealthURL       string          `json:"healthUrl"`
	ForwardPorts    []int           `json:"forwardPorts"`
	DashboardMarker string          `json:"dashboardMarker"`
}

// dashboardPort selects the sandbox's dashboard port: the registry's
// dashboardPort when it is a valid port (a JSON number or a numeric string,
// as NemoClaw has written both), else NEMOCLAW_DASHBOARD_PORT when valid,
// else 18789. source says which one won, for diagnostics.
func dashboardPort(fromRegistry any, getenv func(string) string) (port int, source string) {
	if p, ok := parsePort(fromRegistry); ok {
		return p, "registry dashboardPort"
	}
	if getenv != nil {
		if p, ok := parsePort(getenv("NEMOCLAW_DASHBOARD_PORT")); ok {
			return p, "NEMOCLAW_DASHBOARD_PORT"
		}
	}
	return sandboxspec.DefaultDashboardPort, "default"
}

func parsePort(v any) (int, bool) {
	var n int64
	switch x := v.(type) {
	case nil:
		return 0, false
	case int:
		n = int64(x)
	case int64:
		n = x
	case float64:
		if x != float64(int64(x)) {
			return 0, false
		}
		n = int64(x)
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return 0, false
		}
		n = i
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 32)
		if err != nil {
			return 0, false
		}
		n = i
	default:
		return 0, false
	}
	if n < 1 || n > 65535 {
		return 0, false
	}
	return int(n), true
}

// resolveAgent returns the profile of agent name for a dashboard port. Built-in
// agents are openclaw and hermes; any other name is read from
// <home>/.nemoclaw/agents/<name>.json. The name is validated first (it
// becomes a file name and is baked into the payload).
func resolveAgent(home, name string, port int) (AgentProfile, error) {
	if port < 1 || port > 65535 {
		return AgentProfile{}, fmt.Errorf("invalid port %d: must be 1-65535", port)
	}
	switch name {
	case "openclaw":
		return AgentProfile{
			Agent:           templates.OpenClaw(port),
			ForwardPorts:    []int{port},
			DashboardMarker: "OpenClaw Control",
		}, nil
	case "hermes":
		return AgentProfile{
			Agent:        templates.Hermes(),
			ForwardPorts: []int{port, sandboxspec.HermesAPIPort},
		}, nil
	}
	if !sandboxspec.ValidName(name) {
		return AgentProfile{}, fmt.Errorf("invalid agent name %q: %s", name, sandboxspec.NameRule)
	}
	path := filepath.Join(home, ".nemoclaw", "agents", name+".json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return AgentProfile{}, fmt.Errorf("unknown agent %q: not openclaw or hermes, and %s does not exist", name, path)
	}
	if err != nil {
		return AgentProfile{}, fmt.Errorf("reading agent %q: %w", name, err)
	}
	var f customAgentFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&f); err != nil {
		return AgentProfile{}, fmt.Errorf("reading agent %q from %s: %w", name, path, err)
	}
	argv, err := commandWords(f.GatewayCommand)
	if err != nil {
		return AgentProfile{}, fmt.Errorf("agent %q in %s: gatewayCommand: %w", name, path, err)
	}
	ps := strconv.Itoa(port)
	argv = append(argv, "--port", ps)
	health := f.HealthURL
	if health == "" {
		health = "http://127.0.0.1:" + ps + "/health"
	}
	display := f.DisplayName
	if display == "" {
		display = name
	}
	fwd := f.ForwardPorts
	if len(fwd) == 0 {
		fwd = []int{port}
	}
	for _, p := range fwd {
		if p < 1 || p > 65535 {
			return AgentProfile{}, fmt.Errorf("agent %q in %s: invalid forward port %d", name, path, p)
		}
	}
	return AgentProfile{
		Agent: templates.Agent{
			Name:           name,
			DisplayName:    display,
			GatewayCommand: argv,
			HealthURL:      health,
			Binary:         argv[0],
		},
		ForwardPorts:    fwd,
		DashboardMarker: f.DashboardMarker,
	}, nil
}

func commandWords(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("missing")
	}
	var argv []string
	if err := json.Unmarshal(raw, &argv); err != nil {
		var s string
		if err2 := json.Unmarshal(raw, &s); err2 != nil {
			return nil, errors.New("must be an array of strings or a string")
		}
		argv = strings.Fields(s)
	}
	if len(argv) == 0 {
		return nil, errors.New("empty")
	}
	return argv, nil
}
