package statefs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestEnsurePrivateDirTightensAnExistingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := EnsurePrivateDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode after EnsurePrivateDir: %v, %v; want 0700", fi.Mode(), err)
	}
}

func TestWriteAtomicReplacesWhole0600AndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sandboxes.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	if err := WriteAtomic(path, []byte("new content")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	after, _ := os.Stat(path)
	if string(got) != "new content" || after.Mode().Perm() != 0o600 {
		t.Fatalf("after WriteAtomic: %q mode %v; want the new content, 0600", got, after.Mode())
	}
	if os.SameFile(before, after) {
		t.Fatal("the file was rewritten in place (same inode); a reader could see half of it")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the file (no temp left)", len(entries))
	}
}

func TestWriteAtomicFailureLeavesTheOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.Mkdir(path, 0o700); err != nil { // a directory cannot be renamed over
		t.Fatal(err)
	}
	if err := WriteAtomic(path, []byte("x")); err == nil {
		t.Fatal("WriteAtomic over a directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("a failed write left %d entries, want 1 (no temp file)", len(entries))
	}
}

func TestTryLockExcludesAndUnlockReleases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.lock")
	a, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to open file descriptions, so a second open in
	// the same process conflicts exactly as another process would.
	if _, err := TryLock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock: %v, want ErrLocked", err)
	}
	a.Unlock()
	a.Unlock() // idempotent
	b, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock after Unlock: %v", err)
	}
	b.Unlock()
}

func TestLockWaitEndsWithItsContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.lock")
	held, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := LockWait(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockWait on a held lock: %v, want the context's deadline", err)
	}
	go func() { time.Sleep(50 * time.Millisecond); held.Unlock() }()
	l, err := LockWait(context.Background(), path)
	if err != nil {
		t.Fatalf("LockWait after the holder let go: %v", err)
	}
	l.Unlock()
}

// A run killed by SIGKILL must not leave its lock held: the kernel drops a
// flock with the last descriptor.
func TestLockDiesWithItsHolder(t *testing.T) {
	if os.Getenv("STATEFS_HOLD") != "" {
		if _, err := TryLock(os.Getenv("STATEFS_HOLD")); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("held\n")
		time.Sleep(time.Minute)
		return
	}
	path := filepath.Join(t.TempDir(), "demo.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockDiesWithItsHolder$")
	cmd.Env = append(os.Environ(), "STATEFS_HOLD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil || string(buf) != "held\n" {
		t.Fatalf("holder did not report: %q %v", buf, err)
	}
	if _, err := TryLock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock while another process holds it: %v, want ErrLocked", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock after the holder was killed: %v", err)
	}
	l.Unlock()
}
