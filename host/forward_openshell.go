package host

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/host/registry"
	"github.com/nemoclaw/nemoclaw-go/sandboxexec"
)

// OpenShell's own forward (SPEC §6): `openshell forward start --background
// <port> <name>`, what NemoClaw's onboard leaves on 18789, is not foreign
// when it serves this sandbox. A live row for this sandbox and port in
// `openshell forward list` plus a TCP connect within 1 s is a healthy
// forward, reported as OpenShell's and left alone. A dead row for this
// sandbox is stopped (`openshell forward stop <port> <name>`) before ours
// starts. A row for another sandbox, or a listener on no row, stays
// foreign (exit 4, no URL).

// isOpenShell reports whether the sandbox is reached through OpenShell
// (the registry's default).
func isOpenShell(sb *registry.Sandbox) bool {
	return sb != nil && sb.TransportKind() == registry.KindOpenShell
}

// openShellRows lists OpenShell's forwards for an OpenShell sandbox. For
// other sandboxes, or without an openshell CLI, there are none.
func (inv *Invocation) openShellRows(ctx context.Context, sb *registry.Sandbox) ([]sandboxexec.OpenShellForward, string, error) {
	if !isOpenShell(sb) {
		return nil, "", nil
	}
	bin, err := sandboxexec.ResolveOpenShell(inv.Getenv, sandboxexec.OpenShellFixedPaths)
	if err != nil {
		return nil, "", nil
	}
	rows, err := sandboxexec.OpenShellForwards(ctx, bin, sb.GatewayName)
	return rows, bin, err
}

// inspectWithOpenShell is inspectForward, where a foreign listener that is
// OpenShell's own live forward of this sandbox counts as healthy.
func (inv *Invocation) inspectWithOpenShell(ctx context.Context, name string, sb *registry.Sandbox, port int, probe bool) recovery.ForwardReport {
	r, _, _ := inv.inspectForward(ctx, name, port, probe)
	return inv.withOpenShellForward(ctx, name, sb, r)
}

// withOpenShellForward takes what inspectForward found on r.Port: when it
// is foreign and the sandbox is OpenShell's, OpenShell's own live forward
// of this sandbox becomes healthy (left alone), and OpenShell's forward of
// another sandbox, or one that does not answer, is named in the detail.
func (inv *Invocation) withOpenShellForward(ctx context.Context, name string, sb *registry.Sandbox, r recovery.ForwardReport) recovery.ForwardReport {
	port := r.Port
	if r.State != recovery.ForwardForeign || !isOpenShell(sb) {
		return r
	}
	rows, _, err := inv.openShellRows(ctx, sb)
	if err != nil {
		r.Detail += fmt.Sprintf("; `openshell forward list` failed: %v", err)
		return r
	}
	for _, row := range rows {
		if row.Port != port || !row.Live() {
			continue
		}
		if row.Sandbox != name {
			r.Detail = fmt.Sprintf("port %d is held by OpenShell's forward of sandbox '%s' (pid %d), not '%s'; it was left running", port, row.Sandbox, row.PID, name)
			return r
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err != nil {
			r.Detail = fmt.Sprintf("OpenShell's forward of '%s' on port %d is listed as %s but does not accept connections: %v", name, port, row.Status, err)
			return r
		}
		c.Close()
		return recovery.ForwardReport{Sandbox: name, Port: port, State: recovery.ForwardHealthy, Owner: "openshell",
			PID: row.PID, URL: recovery.URLFor(port), Detail: "OpenShell's own forward (openshell forward list: " + row.Status + "), left alone"}
	}
	return r
}

// stopDeadOpenShellForward stops OpenShell's forward of this sandbox and
// port when `openshell forward list` shows it dead, so ours can take the
// port. It reports whether it stopped one.
func (inv *Invocation) stopDeadOpenShellForward(ctx context.Context, name string, sb *registry.Sandbox, port int) (bool, error) {
	rows, bin, err := inv.openShellRows(ctx, sb)
	if err != nil || bin == "" {
		return false, err
	}
	for _, row := range rows {
		if row.Sandbox == name && row.Port == port && !row.Live() {
			if err := sandboxexec.OpenShellForwardStop(ctx, bin, sb.GatewayName, port, name); err != nil {
				return false, fmt.Errorf("stopping OpenShell's dead forward of '%s' on port %d: %w", name, port, err)
			}
			return true, nil
		}
	}
	return false, nil
}
