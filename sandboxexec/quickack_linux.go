package sandboxexec

import (
	"net"
	"syscall"
)

// quickAckConn is the TCP connection to sshd with TCP_QUICKACK re-armed
// after every write.
//
// Why: OpenSSH's sshd sets TCP_NODELAY only on connections that carry a
// terminal, so on ours Nagle holds a small segment (a channel open
// confirmation, a reply, an EOF) while an earlier small one is unacked.
// Linux delays our ACK by up to 40 ms once the connection looks
// interactive (request, reply: "pingpong" mode, entered on each send), and
// sshd's second small segment waits that long. With the forward's fresh
// connections this hit 1-10% of requests (p99 ~44 ms; OpenSSH's own client
// against the same sshd suffers the same). TCP_QUICKACK leaves pingpong
// mode, so the ACK goes out as soon as we read the segment; the kernel
// re-enters the mode on the next send, hence after every write. Cost: one
// setsockopt per write and a few more bare ACKs.
type quickAckConn struct {
	*net.TCPConn
	raw syscall.RawConn
}

// withQuickAck wraps a TCP connection; anything else is returned as is
// (a ProxyCommand's pipes have no ACKs to hurry).
func withQuickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckConn{TCPConn: tc, raw: raw}
}

func (c *quickAckConn) Write(p []byte) (int, error) {
	n, err := c.TCPConn.Write(p)
	if err == nil {
		_ = c.raw.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
	return n, err
}
