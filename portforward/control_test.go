package portforward

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A daemon that was replaced shuts its control socket without unlinking
// its successor's socket at the same path; the successor's own stop
// removes its file before returning.
func TestControlSocketRemovesOnlyItsOwnFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "demo-1.sock")
	ctx := context.Background()
	stopOld, err := ServeControl(ctx, path, func() Status { return Status{ID: "old"} })
	if err != nil {
		t.Fatal(err)
	}
	// The successor replaces the socket file (ServeControl unlinks a
	// stale one first).
	stopNew, err := ServeControl(ctx, path, func() Status { return Status{ID: "new"} })
	if err != nil {
		t.Fatal(err)
	}
	stopOld()
	if s, err := QueryControl(ctx, path); err != nil || s.ID != "new" {
		t.Fatalf("after the old daemon stopped, the socket answers %+v, %v; want the successor", s, err)
	}
	stopNew()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the successor's socket file is still there after its stop returned: %v", err)
	}
	stopNew() // idempotent
}
