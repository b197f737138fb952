package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nemoclaw/nemoclaw-go/host/recovery"
	"github.com/nemoclaw/nemoclaw-go/portforward"
)

// Orphaned forward daemons (SPEC §6, no orphans): a daemon of ours that no
// state record names. It normally notices within
// portforward.DefaultRecordCheck and exits by itself; until then, or when
// an older nemoclaw started it, `forward list` shows it (state "orphan",
// found by its process) and `forward stop` or `forward start` ends it,
// after portforward.ProveDaemonProcess has proven it ours.

// forwardBinary is the executable `forward start` runs as the daemon:
// NEMOCLAW_FORWARD_BINARY, else this executable.
func (inv *Invocation) forwardBinary() (string, error) {
	if bin := inv.Getenv("NEMOCLAW_FORWARD_BINARY"); bin != "" {
		return bin, nil
	}
	bin, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the nemoclaw executable: %w", err)
	}
	return bin, nil
}

// daemonMatch says which processes are daemons of this HOME: started with
// --forwards-dir naming its forwards directory, by one of our programs.
func (inv *Invocation) daemonMatch() portforward.DaemonMatch {
	programs := []string{"nemoclaw", "nemohermes"}
	if bin, err := inv.forwardBinary(); err == nil {
		programs = append(programs, filepath.Base(bin))
	}
	return portforward.DaemonMatch{Dir: inv.forwardDir(), Programs: programs}
}

// orphanReport describes a daemon proven ours by its process.
func orphanReport(d portforward.DaemonProcess, haveState bool) recovery.ForwardReport {
	why := "no state record names it"
	if haveState {
		why = "its state record names another daemon"
	}
	return recovery.ForwardReport{Sandbox: d.Sandbox, Port: d.Port, State: "orphan", PID: d.PID, ID: d.ID,
		Detail: fmt.Sprintf("forward daemon pid %d is ours by its process, but %s; it exits by itself, or 'forward stop' ends it", d.PID, why)}
}

// portOrphan reports whether the holder of port is an orphaned daemon of
// ours for name and port.
func (inv *Invocation) portOrphan(ctx context.Context, name string, port int, holder portforward.Holder) (portforward.DaemonProcess, bool) {
	if holder.PID <= 0 {
		return portforward.DaemonProcess{}, false
	}
	d, err := portforward.ProveDaemonProcess(ctx, holder.PID, inv.daemonMatch(), name, port)
	return d, err == nil
}

// stopOrphan ends an orphaned daemon of ours (proven again, and signalled
// through a pidfd, by portforward.StopDaemonProcess).
func (inv *Invocation) stopOrphan(ctx context.Context, name string, port, pid int) error {
	if _, err := portforward.StopDaemonProcess(ctx, pid, inv.daemonMatch(), name, port, forwardStopGrace); err != nil {
		return fmt.Errorf("stopping the orphaned forward daemon: %w", err)
	}
	return nil
}

// stopUnrecorded is `forward stop` with no forwards directory at all
// (~/.nemoclaw deleted): no record and no lock, but an orphan of ours may
// still hold the port.
func (inv *Invocation) stopUnrecorded(ctx context.Context, name string, port int) (recovery.ForwardReport, error) {
	if h, held := portforward.PortHolder(port); held {
		if d, ok := inv.portOrphan(ctx, name, port, h); ok {
			if err := inv.stopOrphan(ctx, name, port, d.PID); err != nil {
				return orphanReport(d, false), err
			}
			return recovery.ForwardReport{Sandbox: name, Port: port, State: "absent", Action: "stopped", PID: d.PID, ID: d.ID,
				Detail: orphanReport(d, false).Detail}, nil
		}
	}
	return recovery.ForwardReport{Sandbox: name, Port: port, State: "absent", Action: "none"}, nil
}

// orphanReports lists the daemons of ours found by process that the
// record-based reports do not already show.
func (inv *Invocation) orphanReports(ctx context.Context, reports []recovery.ForwardReport) []recovery.ForwardReport {
	shown := map[int]bool{}
	for _, r := range reports {
		if r.PID > 0 {
			shown[r.PID] = true
		}
	}
	for _, d := range portforward.FindDaemonProcesses(ctx, inv.daemonMatch()) {
		if shown[d.PID] {
			continue
		}
		_, err := portforward.ReadState(portforward.PathsFor(inv.forwardDir(), d.Sandbox, d.Port).State)
		reports = append(reports, orphanReport(d, err == nil))
	}
	return reports
}

// orphanPorts are the ports of the daemons of ours found by process for
// sandbox name.
func (inv *Invocation) orphanPorts(ctx context.Context, name string) []int {
	var ports []int
	for _, d := range portforward.FindDaemonProcesses(ctx, inv.daemonMatch()) {
		if d.Sandbox == name {
			ports = append(ports, d.Port)
		}
	}
	return ports
}
