package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Exec runs argv inside the sandbox (all its namespaces) as user ("sandbox",
// "root", "gateway" or a numeric uid), with a clean login-like environment
// (setpriv --reset-env: HOME, USER, a default PATH) and cwd /. It returns the
// command's exit status (128+N when killed by signal N); the error is for
// failures to run it at all.
//
// The namespace files are opened before PID 1's identity is checked and
// handed to nsenter as /proc/self/fd/N, so a recycled PID cannot redirect
// the command into another process's namespaces. When ctx ends, nsenter is
// killed; a command that ignores its closed pipes lives on inside the
// sandbox until Down.
func (s *Sandbox) Exec(ctx context.Context, user string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(argv) == 0 {
		return -1, errors.New("exec: no command")
	}
	if user == "" {
		user = UserSandbox
	}
	kinds := []string{"mnt", "net", "pid", "uts", "ipc"}
	flags := []string{"--mount", "--net", "--pid", "--uts", "--ipc"}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	args := []string{}
	for i, k := range kinds {
		f, err := s.openNamespace(k)
		if err != nil {
			return -1, err
		}
		files = append(files, f)
		args = append(args, fmt.Sprintf("%s=/proc/self/fd/%d", flags[i], 3+i))
	}
	args = append(args, "--", "setpriv", "--reuid="+user, "--regid="+user, "--init-groups", "--reset-env", "--")
	args = append(args, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.ExtraFiles = files
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee) && ctx.Err() == nil:
		if ee.ExitCode() >= 0 {
			return ee.ExitCode(), nil
		}
		// nsenter re-raises the signal that killed its child on itself.
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return -1, fmt.Errorf("exec in sandbox %s: %w", s.Name, err)
	default:
		if ctx.Err() != nil {
			return -1, fmt.Errorf("exec in sandbox %s: %w", s.Name, ctx.Err())
		}
		return -1, fmt.Errorf("exec in sandbox %s: %w", s.Name, err)
	}
}

// Output runs argv like Exec and returns its stdout; a non-zero exit is an
// error carrying the command's stderr.
func (s *Sandbox) Output(ctx context.Context, user string, argv ...string) (string, error) {
	var out, errb limitedBuffer
	code, err := s.Exec(ctx, user, argv, nil, &out, &errb)
	if err != nil {
		return out.String(), err
	}
	if code != 0 {
		return out.String(), fmt.Errorf("%q in sandbox %s exited with %d: %s", argv, s.Name, code, errb.String())
	}
	return out.String(), nil
}

// limitedBuffer keeps the first 1 MiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 1<<20 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
