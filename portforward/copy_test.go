package portforward

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// shortWriter accepts one byte less than it is given.
type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return max(len(p)-1, 0), nil }

// TestCopyStream: the copy loop's own io.Copy must keep io.Copy's contract
// (EOF is success, a reader's or writer's error is returned, a short write
// is an error) and move every byte in order across its switch from the
// small to the bulk buffer.
func TestCopyStream(t *testing.T) {
	t.Parallel()
	big := make([]byte, 3*bulkBufferSize+12345) // fills the small buffer, then several bulk ones
	rand.Read(big)
	boom := errors.New("boom")
	cases := []struct {
		name    string
		src     io.Reader
		dst     io.Writer
		want    []byte
		wantErr error
	}{
		{"empty source is a clean EOF", bytes.NewReader(nil), &bytes.Buffer{}, nil, nil},
		{"small payload, one read", bytes.NewReader([]byte("hello")), &bytes.Buffer{}, []byte("hello"), nil},
		{"bulk payload crosses the buffer switch intact", bytes.NewReader(big), &bytes.Buffer{}, big, nil},
		{"one byte per read never switches and still arrives", iotest.OneByteReader(bytes.NewReader([]byte("slow"))), &bytes.Buffer{}, []byte("slow"), nil},
		{"data then a reader error: the data, then the error", iotest.DataErrReader(io.MultiReader(bytes.NewReader([]byte("part")), iotest.ErrReader(boom))), &bytes.Buffer{}, []byte("part"), boom},
		{"a short write is an error", bytes.NewReader([]byte("abc")), shortWriter{}, nil, io.ErrShortWrite},
	}
	for _, c := range cases {
		err := copyStream(c.dst, c.src)
		if !errors.Is(err, c.wantErr) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.wantErr)
		}
		if b, ok := c.dst.(*bytes.Buffer); ok && !bytes.Equal(b.Bytes(), c.want) {
			t.Errorf("%s: copied %d bytes, want %d (or different bytes)", c.name, b.Len(), len(c.want))
		}
	}
}
