package sandboxexec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// commandConn is a command's stdin/stdout as a net.Conn: how ProxyCommand
// works (modelled on docker/cli's commandconn). The command runs in its own
// process group and Close kills that group and reaps it, so no proxy (socat,
// nsenter, openshell ssh-proxy) outlives the connection. Its stderr is kept
// (the last few KiB) for error messages, because that is where a proxy says
// why it failed.
type commandConn struct {
	cmd    *exec.Cmd
	stdin  *os.File // our write end of the command's stdin
	stdout *os.File // our read end of the command's stdout
	stderr *tailBuffer
	exited chan struct{} // closed once the command was reaped
	waitMu sync.Mutex
	waitEr error

	closeOnce sync.Once
}

// startCommandConn runs `sh -c "exec command"` with its stdio as the
// connection.
// Pipes from os.Pipe are pollable, so deadlines work on this conn (the
// handshake deadline depends on it).
func startCommandConn(command string, env []string) (*commandConn, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	c := &commandConn{stdin: inW, stdout: outR, stderr: newTailBuffer(4096), exited: make(chan struct{})}
	// "exec " as OpenSSH does: the proxy replaces the shell, so the
	// process we kill and reap is the proxy itself, not a shell whose
	// orphaned child would be left for init to reap.
	c.cmd = exec.Command("/bin/sh", "-c", "exec "+command)
	c.cmd.Env = env
	c.cmd.Stdin = inR
	c.cmd.Stdout = outW
	c.cmd.Stderr = c.stderr
	// Its own process group, so Close reaches whatever the proxy started.
	// No Pdeathsig: it fires when the *thread* that forked exits, which Go
	// decides (a goroutine that locked its thread and returned), and would
	// kill a healthy proxy mid-run. If we die, the proxy's stdin closes,
	// which ends a relay (socat, nc, ssh-proxy) by itself.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A process outside the group that inherited stderr must not block the
	// reaping forever.
	c.cmd.WaitDelay = time.Second
	if err := c.cmd.Start(); err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("start ProxyCommand: %w", err)
	}
	// The child has its copies; ours would keep the pipes open forever.
	inR.Close()
	outW.Close()
	go func() {
		err := c.cmd.Wait()
		c.waitMu.Lock()
		c.waitEr = err
		c.waitMu.Unlock()
		close(c.exited)
	}()
	return c, nil
}

func (c *commandConn) Read(p []byte) (int, error)  { return c.stdout.Read(p) }
func (c *commandConn) Write(p []byte) (int, error) { return c.stdin.Write(p) }

// CloseWrite closes the command's stdin (half-close).
func (c *commandConn) CloseWrite() error { return c.stdin.Close() }

// Close ends the command: stdin closed, the process group killed, the
// process reaped. It returns once nothing is left running.
func (c *commandConn) Close() error {
	c.closeOnce.Do(func() {
		c.stdin.Close()
		if c.cmd.Process != nil {
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		}
		<-c.exited
		c.stdout.Close()
	})
	return nil
}

// failure describes why the proxy stopped, for error messages: its exit
// status and the tail of its stderr. It waits briefly for the command to
// exit, because a proxy that closed its stdout is usually about to.
func (c *commandConn) failure(wait time.Duration) string {
	select {
	case <-c.exited:
	case <-time.After(wait):
	}
	var parts []string
	select {
	case <-c.exited:
		c.waitMu.Lock()
		err := c.waitEr
		c.waitMu.Unlock()
		if err != nil {
			parts = append(parts, "ProxyCommand "+err.Error())
		} else {
			parts = append(parts, "ProxyCommand exited")
		}
	default:
	}
	if s := strings.TrimSpace(c.stderr.String()); s != "" {
		parts = append(parts, "its stderr: "+s)
	}
	return strings.Join(parts, "; ")
}

func (c *commandConn) LocalAddr() net.Addr  { return commandAddr{} }
func (c *commandConn) RemoteAddr() net.Addr { return commandAddr{} }

func (c *commandConn) SetDeadline(t time.Time) error {
	return errors.Join(c.stdin.SetWriteDeadline(t), c.stdout.SetReadDeadline(t))
}
func (c *commandConn) SetReadDeadline(t time.Time) error  { return c.stdout.SetReadDeadline(t) }
func (c *commandConn) SetWriteDeadline(t time.Time) error { return c.stdin.SetWriteDeadline(t) }

// commandAddr is the address of a ProxyCommand connection.
type commandAddr struct{}

func (commandAddr) Network() string { return "proxycommand" }
func (commandAddr) String() string  { return "proxycommand" }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// dialProxyCommand starts the ProxyCommand, honouring ctx for the start.
func dialProxyCommand(ctx context.Context, command string, env []string) (*commandConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return startCommandConn(command, env)
}
