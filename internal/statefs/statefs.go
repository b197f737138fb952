// Package statefs is how the operator's host-side state reaches the disk
// (SPEC §3.1, §12): private directories (0700), files replaced atomically
// (0600, temp file in the same directory, fsync, rename, fsync of the
// directory), and advisory locks between processes. The registry, the
// forward records and the per-sandbox run lock all go through it, so each
// of those rules is written once.
package statefs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// EnsurePrivateDir creates dir (and missing parents) and makes dir itself
// 0700, tightening an existing one: host-side state is the operator's alone.
func EnsurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("securing %s: %w", dir, err)
	}
	return nil
}

// WriteAtomic replaces path with data, mode 0600: readers see the old
// content or the new, never a part, and a crash leaves no partial file
// (only, at worst, a dot-named temp file beside it). The directory must
// exist.
func WriteAtomic(path string, data []byte) error { return writeAtomic(path, data, -1, -1) }

// WriteAtomicAs is WriteAtomic for a file that must belong to uid:gid (the
// lab writes configs for the sandbox's users). It needs root.
func WriteAtomicAs(path string, data []byte, uid, gid int) error {
	return writeAtomic(path, data, uid, gid)
}

func writeAtomic(path string, data []byte, uid, gid int) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil && uid >= 0 {
		err = f.Chown(uid, gid)
	}
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// The rename is durable only once the directory is; a failure here
	// leaves a complete file, so it is not reported.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ErrLocked is TryLock's answer when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// Lock is an exclusive advisory lock (flock) on a file, held until Unlock
// or the process's death: the kernel releases it however the holder ends,
// so a killed run never leaves a lock behind.
type Lock struct {
	mu sync.Mutex
	f  *os.File
}

// Unlock releases the lock. It is safe to call more than once and from
// several goroutines (a run's own exit path and its interrupt handler).
func (l *Lock) Unlock() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// TryLock takes the lock on path (created 0600) if it is free, and returns
// ErrLocked at once if another process holds it.
func TryLock(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// LockWait takes the lock on path, waiting while another process holds it
// until ctx ends (then ctx's error).
func LockWait(ctx context.Context, path string) (*Lock, error) {
	const poll = 20 * time.Millisecond
	for {
		l, err := TryLock(path)
		if !errors.Is(err, ErrLocked) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the lock %s: %w", path, ctx.Err())
		case <-time.After(poll):
		}
	}
}
