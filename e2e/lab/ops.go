package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// ErrNoGateway is returned by KillGateway when no gateway process runs.
var ErrNoGateway = errors.New("no gateway process is running")

// KillGateway sends sig to every gateway process of the sandbox (see
// Process.IsGateway), from the host. For SIGKILL, SIGTERM and SIGINT it
// waits (up to 10 s) until they are gone and says so if they are not; other
// signals (SIGSTOP, SIGHUP...) are sent and not waited for.
func (s *Sandbox) KillGateway(ctx context.Context, sig syscall.Signal) error {
	procs, err := s.GatewayProcesses()
	if err != nil {
		return err
	}
	if len(procs) == 0 {
		return fmt.Errorf("sandbox %s: %w", s.Name, ErrNoGateway)
	}
	for _, p := range procs {
		if err := syscall.Kill(p.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signalling gateway pid %d: %w", p.PID, err)
		}
	}
	if sig != syscall.SIGKILL && sig != syscall.SIGTERM && sig != syscall.SIGINT {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		left, err := s.GatewayProcesses()
		if err != nil {
			return err
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			var pids []string
			for _, p := range left {
				pids = append(pids, fmt.Sprint(p.PID))
			}
			return fmt.Errorf("sandbox %s: gateway still running after %s: pids %s", s.Name, sig, strings.Join(pids, " "))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// WipeTmp empties the sandbox's /tmp, as a pod restart or the CI /tmp-wipe
// does; with killGateway the gateway is killed (SIGKILL) first. The host's
// /tmp is a different filesystem and is never touched.
func (s *Sandbox) WipeTmp(ctx context.Context, killGateway bool) error {
	if killGateway {
		if err := s.KillGateway(ctx, syscall.SIGKILL); err != nil && !errors.Is(err, ErrNoGateway) {
			return err
		}
	}
	if _, err := s.Output(ctx, UserRoot, "find", "/tmp", "-mindepth", "1", "-maxdepth", "1", "-exec", "rm", "-rf", "--", "{}", "+"); err != nil {
		return fmt.Errorf("wiping /tmp: %w", err)
	}
	left, err := os.ReadDir(s.HostPath("/tmp"))
	if err != nil {
		return fmt.Errorf("checking /tmp: %w", err)
	}
	if len(left) > 0 {
		return fmt.Errorf("wiping /tmp: %d entries left (%s...)", len(left), left[0].Name())
	}
	return nil
}

// Recreate simulates a pod recreate: every process of the sandbox dies,
// /tmp (and /run, /sandbox, the overlays) start empty, and only the
// services that come back with the pod are started: sshd, and the
// inference.local stand-in (in OpenShell it lives outside the pod). No
// entrypoint runs, so there is no guard chain in /tmp and no gateway. The
// host key, client key and registry entry stay valid.
func (s *Sandbox) Recreate(ctx context.Context) error {
	if err := s.stop(); err != nil {
		return err
	}
	if err := s.launch("recreate"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Options.ReadyTimeout)
	defer cancel()
	return s.waitReady(ctx, false)
}
