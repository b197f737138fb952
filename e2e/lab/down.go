package lab

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Down stops the sandbox and removes everything the lab made for it: killing
// PID 1 makes the kernel kill every process in its PID namespace, and with
// the last one the mount and network namespaces (tmpfs, overlays) vanish.
// Then the registry entry (only if it is still ours) and the state directory
// go. Forwards the OpenShell test double started for it are stopped first,
// as OpenShell's `sandbox delete` stops the sandbox's forwards. Idempotent:
// a sandbox already stopped is only cleaned up.
func (s *Sandbox) Down() error {
	var errs []error
	stopSandboxForwards(s.Options, s.Name)
	if err := s.stop(); err != nil {
		errs = append(errs, err)
	}
	if err := s.unregister(); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		errs = append(errs, fmt.Errorf("removing %s: %w", s.Dir, err))
	}
	return errors.Join(errs...)
}

// stop kills PID 1 (if it is still this sandbox's) and waits until no
// process of the sandbox is left running.
func (s *Sandbox) stop() error {
	if s.running() {
		if err := syscall.Kill(s.st.PID1, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stopping sandbox %s (PID 1 = %d): %w", s.Name, s.st.PID1, err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		// Zombies do not count: they hold no mount or network namespace,
		// only a PID until their parent (maybe outside, like nsenter's
		// children) reaps them.
		left := 0
		if s.st.PIDNS != "" {
			procs, _ := processesInNamespace(s.st.PIDNS)
			for _, p := range procs {
				if p.State != "Z" && p.State != "X" {
					left++
				}
			}
		}
		if left == 0 && !s.running() {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stopping sandbox %s: %d processes still running 15 s after PID 1 was killed", s.Name, left)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// If this process started the launcher, reap it now so no zombie stays.
	if v, ok := launchers.Load(s.st.LauncherPID); ok {
		select {
		case <-v.(chan struct{}):
		case <-time.After(5 * time.Second):
		}
		launchers.Delete(s.st.LauncherPID)
	}
	return nil
}

// DownAll stops and removes every sandbox in the lab directory of o.
// Idempotent: with none left, it does nothing and succeeds.
func DownAll(o Options) error {
	names, err := List(o)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		o := o
		o.Name = name
		s, err := Open(o)
		if err != nil {
			// Half-made (no state): nothing runs for it; remove the files.
			if errors.Is(err, ErrNotFound) {
				lo, lerr := o.withLocations()
				if lerr == nil {
					if rerr := os.RemoveAll(sandboxDir(lo)); rerr != nil {
						errs = append(errs, rerr)
					}
				}
				continue
			}
			errs = append(errs, err)
			continue
		}
		if err := s.Down(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
