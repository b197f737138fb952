package portforward

import (
	"errors"
	"io"
	"net"
	"sync"
)

// copyBufferSize is the chunk size of the copy loop: one SSH channel packet
// (x/crypto's maximum is 32 KiB), so a read never waits to fill a buffer
// the channel would split anyway, and 200 open connections cost 12 MiB of
// buffers, not more, in a daemon meant to idle small.
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// closeWriter is implemented by *net.TCPConn, *net.UnixConn and by the
// net.Conn that golang.org/x/crypto/ssh returns for a direct-tcpip channel
// (its CloseWrite sends the channel EOF).
type closeWriter interface {
	CloseWrite() error
}

// Pipe copies a→b and b→a until both directions end, then closes both.
//
// It keeps half-close, like lima's pkg/bicopy: when one side finishes
// sending (EOF), only the write side of the other is closed, so a client
// that shuts down its write side after a request still receives the whole
// reply. When a direction fails with a real error (reset, broken channel),
// both connections are closed at once so the other direction cannot hang.
// The first real error is returned; a clean EOF in both directions is nil.
func Pipe(a, b net.Conn) error {
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	fail := func(err error) {
		once.Do(func() {
			firstErr = err
			a.Close()
			b.Close()
		})
	}
	one := func(dst, src net.Conn) {
		defer wg.Done()
		bufp := copyBuffers.Get().(*[]byte)
		defer copyBuffers.Put(bufp)
		// Hide ReadFrom/WriteTo so that our buffer is used: the standard
		// fallbacks allocate a 32 KiB buffer per call.
		_, err := io.CopyBuffer(writerOnly{dst}, readerOnly{src}, *bufp)
		if err != nil && !errors.Is(err, net.ErrClosed) {
			fail(err)
			return
		}
		if cw, ok := dst.(closeWriter); ok {
			if cw.CloseWrite() == nil {
				return
			}
		}
		// No half-close available: closing is the only way to signal EOF.
		dst.Close()
	}
	// One direction runs on the caller's goroutine: a goroutine fewer to
	// start (and grow a stack for) per connection.
	wg.Add(2)
	go one(b, a)
	one(a, b)
	wg.Wait()
	a.Close()
	b.Close()
	return firstErr
}

type readerOnly struct{ io.Reader }
type writerOnly struct{ io.Writer }
