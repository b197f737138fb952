//go:build !linux

package sandboxexec

import "net"

// withQuickAck is Linux-only (TCP_QUICKACK); see quickack_linux.go.
func withQuickAck(c net.Conn) net.Conn { return c }
