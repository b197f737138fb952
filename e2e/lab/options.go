package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/sandboxspec"
)

// Agents, gateways, entrypoint modes and exec users accepted by Up.
const (
	AgentOpenClaw = "openclaw"
	AgentHermes   = "hermes"

	GatewayStub     = "stub"
	GatewayOpenClaw = "openclaw"

	EntrypointRoot    = "root"
	EntrypointNonRoot = "nonroot"

	UserSandbox = "sandbox"
	UserRoot    = "root"
	UserGateway = "gateway"
)

// Options describe one sandbox and where the lab keeps its files. Zero
// values take the defaults documented on each field.
type Options struct {
	Name string
	// Agent is "openclaw" (default) or "hermes".
	Agent string
	// Gateway is "stub" (default) or "openclaw" (the real gateway, installed
	// by `make lab-deps`; OpenClaw agent only).
	Gateway string
	// ExecUser is the user the registered ssh-config logs in as: "sandbox"
	// (default) or "root" (sshd then also admits root, by key only).
	ExecUser string
	// APIPort, for Hermes, is registered as hermesApiPort: the host port
	// the Hermes API (8642 inside) is forwarded to. 0 registers none (the
	// host then uses 8642, which two Hermes sandboxes cannot share).
	APIPort int
	// Port is the sandbox's dashboardPort: the gateway listens on it inside.
	// Default 18789.
	Port int
	// LegacyProxyEnv makes the entrypoint write the legacy Hermes form of
	// the proxy-env: proxy variables, no NODE_OPTIONS guards, no staged
	// preloads. The gateway it starts then dies, as in the field.
	LegacyProxyEnv bool
	// EntrypointMode is "root" (default: the entrypoint runs as root, writes
	// root:root 0444 files and starts the OpenClaw gateway as the gateway
	// user) or "nonroot" (it runs as sandbox and so does the gateway).
	EntrypointMode string

	// Home holds .nemoclaw/sandboxes.json. Default $HOME.
	Home string
	// LabDir holds the sandboxes' state. Default $NEMOCLAW_LAB_DIR, else
	// Home/.nemoclaw/lab.
	LabDir string
	// CacheDir holds lab-deps (Node 24, OpenClaw). Default
	// $NEMOCLAW_LAB_CACHE, else /var/cache/nemoclaw-lab (DefaultLabCache).
	CacheDir string
	// LabBinary is the nemoclaw-lab executable the ssh-config's
	// ProxyCommand runs. Default $NEMOCLAW_LAB_BIN, else this executable
	// when it is nemoclaw-lab, else one built from this module's source
	// into LabDir/.bin (tests of other packages).
	LabBinary string
	// ReadyTimeout bounds the wait for sshd and the gateway. Default 60 s
	// (stub) or 5 min (real OpenClaw: 7 s idle, over a minute on two busy
	// cores). It is hang protection, not a target.
	ReadyTimeout time.Duration
}

// ValidateName rejects names that could not be a sandbox (SPEC §2.1).
func ValidateName(name string) error {
	if !sandboxspec.ValidName(name) {
		return fmt.Errorf("invalid sandbox name %q: %s", name, sandboxspec.NameRule)
	}
	return nil
}

// withLocations fills Home, LabDir and CacheDir from the environment.
func (o Options) withLocations() (Options, error) {
	if o.Home == "" {
		o.Home = os.Getenv("HOME")
	}
	if o.Home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return o, fmt.Errorf("finding the home directory: %w", err)
		}
		o.Home = h
	}
	if o.LabDir == "" {
		o.LabDir = os.Getenv("NEMOCLAW_LAB_DIR")
	}
	if o.LabDir == "" {
		o.LabDir = filepath.Join(o.Home, ".nemoclaw", "lab")
	}
	if o.CacheDir == "" {
		o.CacheDir = DefaultLabCache()
	}
	var err error
	for _, p := range []*string{&o.Home, &o.LabDir, &o.CacheDir} {
		if *p, err = filepath.Abs(*p); err != nil {
			return o, fmt.Errorf("resolving %s: %w", *p, err)
		}
	}
	return o, nil
}

// withDefaults validates a sandbox description and fills its defaults.
func (o Options) withDefaults() (Options, error) {
	o, err := o.withLocations()
	if err != nil {
		return o, err
	}
	if err := ValidateName(o.Name); err != nil {
		return o, err
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&o.Agent, AgentOpenClaw)
	def(&o.Gateway, GatewayStub)
	def(&o.ExecUser, UserSandbox)
	def(&o.EntrypointMode, EntrypointRoot)
	if o.Port == 0 {
		o.Port = sandboxspec.DefaultDashboardPort
	}
	switch {
	case o.Agent != AgentOpenClaw && o.Agent != AgentHermes:
		return o, fmt.Errorf("unknown agent %q: use openclaw or hermes", o.Agent)
	case o.Gateway != GatewayStub && o.Gateway != GatewayOpenClaw:
		return o, fmt.Errorf("unknown gateway %q: use stub or openclaw", o.Gateway)
	case o.Gateway == GatewayOpenClaw && o.Agent != AgentOpenClaw:
		return o, fmt.Errorf("--gateway openclaw runs the real OpenClaw gateway: it needs --agent openclaw")
	case o.ExecUser != UserSandbox && o.ExecUser != UserRoot:
		return o, fmt.Errorf("unknown exec user %q: use sandbox or root", o.ExecUser)
	case o.EntrypointMode != EntrypointRoot && o.EntrypointMode != EntrypointNonRoot:
		return o, fmt.Errorf("unknown entrypoint mode %q: use root or nonroot", o.EntrypointMode)
	case o.Port < 1 || o.Port > 65535 || o.Port == 22 || o.Port == 443 || (o.Agent == AgentHermes && o.Port == sandboxspec.HermesAPIPort):
		return o, fmt.Errorf("invalid port %d: use 1-65535, not one the sandbox's own services use (22, 443, 8642)", o.Port)
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 60 * time.Second
		if o.Gateway == GatewayOpenClaw {
			o.ReadyTimeout = 5 * time.Minute
		}
	}
	return o, nil
}
