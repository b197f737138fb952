package host

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
	"github.com/nemoclaw/nemoclaw-go/internal/exitcode"
	"github.com/nemoclaw/nemoclaw-go/internal/sandboxspec"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
	"github.com/nemoclaw/nemoclaw-go/templates"
)

// defaultHermesDashboardPort is the host port of the optional Hermes web
// dashboard when the registry names none (SPEC §5.2), and the port it
// listens on inside.
const defaultHermesDashboardPort = 9119

// runFlags are the flags every run verb shares.
type runFlags struct {
	timeout, settle  time.Duration
	settleSet        bool
	requireInference bool
}

// agentName is the registry's agent, where a null or missing one means
// OpenClaw whichever binary runs (SPEC §2.1).
func agentName(sb *registry.Sandbox) string {
	if sb.Agent == "" {
		return "openclaw"
	}
	return sb.Agent
}

// resolveTarget turns a registry entry into what a run needs: the agent
// profile, the ports to forward, and the payload's parameters.
func (inv *Invocation) resolveTarget(name string, sb *registry.Sandbox, f runFlags) (recovery.Target, error) {
	var fromRegistry any
	if sb.DashboardPort != 0 {
		fromRegistry = sb.DashboardPort
	}
	port, _ := dashboardPort(fromRegistry, inv.Getenv)
	profile, err := resolveAgent(inv.Home(), agentName(sb), port)
	if err != nil {
		return recovery.Target{}, withCode(exitcode.Usage, fmt.Errorf("sandbox '%s': %w", name, err), "")
	}

	t := recovery.Target{
		Name:            name,
		CLI:             inv.Brand.Name,
		Agent:           profile.Agent,
		DashboardMarker: profile.DashboardMarker,
		Payload: templates.Params{
			Port:   port,
			Settle: f.settle,
		},
		ReachHint: inv.reachHint(name, sb),
	}
	if f.settleSet && f.settle == 0 {
		t.Payload.NoSettle = true
	}
	t.Payload.Deadline, t.Payload.Readiness = payloadBudgets(f.timeout)
	for i, p := range profile.ForwardPorts {
		f := recovery.Forward{Local: p, Remote: p, Purpose: "port"}
		switch {
		case i == 0:
			f.Purpose = "dashboard"
		case profile.Name == "hermes" && p == sandboxspec.HermesAPIPort:
			// hermesApiPort is the host side; the API listens on 8642
			// inside.
			f.Purpose = "API"
			if sb.HermesAPIPort != 0 {
				f.Local = sb.HermesAPIPort
			}
		}
		t.Forwards = append(t.Forwards, f)
	}
	if profile.Name == "hermes" && sb.HermesDashboardEnabled {
		local := sb.HermesDashboardPort
		if local == 0 {
			local = defaultHermesDashboardPort
		}
		internal := sb.HermesDashboardInternalPort
		if internal == 0 {
			internal = defaultHermesDashboardPort
		}
		t.Payload.HermesDashboard = templates.HermesDashboard{Enabled: true, Port: local, InternalPort: internal, TUI: sb.HermesDashboardTui}
		t.Forwards = append(t.Forwards, recovery.Forward{Local: local, Remote: internal, Purpose: "Hermes dashboard"})
	}
	return t, nil
}

// payloadBudgets turns --timeout into the payload's own deadline and its
// readiness budget. Without --timeout both are the payload's defaults (120
// s, 90 s). With it, the payload stops a little before the host gives up
// (so its result still arrives) and gives a starting gateway three
// quarters of that: a longer --timeout is how an operator gives a slow
// gateway (the real OpenClaw took up to 182 s under load) more time to
// start, and a shorter one bounds it.
func payloadBudgets(timeout time.Duration) (deadline, readiness time.Duration) {
	if timeout <= 0 {
		return templates.DefaultDeadline, templates.DefaultReadiness
	}
	deadline = max(timeout-2*time.Second, timeout/2)
	return deadline, deadline * 3 / 4
}

// reachHint is a command an operator can run to see whether the sandbox
// answers at all.
func (inv *Invocation) reachHint(name string, sb *registry.Sandbox) string {
	if sb.TransportKind() == registry.KindSSH {
		return fmt.Sprintf("ssh -F %s %s true", inv.sshConfigPath(sb.Transport.SSHConfig), sb.Transport.Host)
	}
	g := ""
	if sb.GatewayName != "" {
		g = " -g " + sb.GatewayName
	}
	return fmt.Sprintf("openshell%s sandbox get %s", g, name)
}

// sshConfigPath resolves the registry's sshConfig: ~/ is HOME, a relative
// path is relative to ~/.nemoclaw (the registry names it; the command's
// working directory must not change which config is used).
func (inv *Invocation) sshConfigPath(cfg string) string {
	switch {
	case cfg == "~" || strings.HasPrefix(cfg, "~/"):
		return filepath.Join(inv.Home(), strings.TrimPrefix(cfg, "~"))
	case !filepath.IsAbs(cfg):
		return filepath.Join(filepath.Dir(registry.DefaultPath(inv.Home())), cfg)
	}
	return cfg
}

// runDeps are the means a run of the engine uses against sandbox name.
func (inv *Invocation) runDeps(name string, sb *registry.Sandbox) recovery.Deps {
	return recovery.Deps{
		Connect: func(ctx context.Context) (sandboxexec.Transport, string, error) {
			tr, err := inv.openTransport(ctx, name, sb)
			if err != nil {
				return nil, "", err
			}
			return tr, inv.describeTransport(sb, tr), nil
		},
		InspectForward: func(ctx context.Context, f recovery.Forward) recovery.ForwardReport {
			return inv.inspectWithOpenShell(ctx, name, sb, f.Local, true)
		},
		EnsureForward: func(ctx context.Context, f recovery.Forward) (recovery.ForwardReport, error) {
			return inv.ensureForward(ctx, name, sb, f.Local, f.Remote)
		},
	}
}

func (inv *Invocation) describeTransport(sb *registry.Sandbox, tr sandboxexec.Transport) string {
	switch {
	case sb.TransportKind() == registry.KindSSH:
		return "ssh " + sb.Transport.Host
	case isExecOnly(tr):
		return "openshell sandbox exec (no ssh-config: exec only)"
	}
	return "openshell ssh-config"
}

func isExecOnly(tr sandboxexec.Transport) bool {
	_, ok := tr.(*sandboxexec.OpenShellExecTransport)
	return ok
}
