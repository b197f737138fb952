package portforward

import (
	"io"
	"net"
	"testing"

	"github.com/nemoclaw/nemoclaw-go/internal/sshdtest"
)

// sourceServer writes n bytes to every connection, then closes it.
func sourceServer(b testing.TB, n int64) string {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go func() {
		buf := make([]byte, 256<<10)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for left := n; left > 0; {
					k := min(left, int64(len(buf)))
					if _, err := c.Write(buf[:k]); err != nil {
						return
					}
					left -= k
				}
			}()
		}
	}()
	return l.Addr().String()
}

// BenchmarkForwardSSHDownload measures the in-process copy path (Forwarder
// over the real SSH transport and sshd) for profiling: 64 MiB per op.
// The side-by-side comparison with OpenSSH is host's BenchmarkForwardCompare.
func BenchmarkForwardSSHDownload(b *testing.B) {
	const size = 64 << 20
	srv := sshdtest.Start(b)
	first, err := sshConnector(srv)(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	_, addr := startForwarder(b, Config{Remote: sourceServer(b, size), Connect: sshConnector(srv), Initial: first})
	buf := make([]byte, 256<<10)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{c}, buf)
		c.Close()
		if err != nil || n != size {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}

// pongServer answers each connection's first byte with one byte and closes.
func pongServer(b testing.TB) string {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var one [1]byte
				if _, err := c.Read(one[:]); err == nil {
					c.Write(one[:])
				}
			}()
		}
	}()
	return l.Addr().String()
}

func requestOnce(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var one [1]byte
	if _, err := c.Write([]byte{'x'}); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(c, one[:]); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkForwardSSHRequest is one small request on a fresh connection
// through the in-process forwarder (a new SSH channel each time).
func BenchmarkForwardSSHRequest(b *testing.B) {
	srv := sshdtest.Start(b)
	first, err := sshConnector(srv)(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	_, addr := startForwarder(b, Config{Remote: pongServer(b), Connect: sshConnector(srv), Initial: first})
	requestOnce(b, addr)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		requestOnce(b, addr)
	}
}
