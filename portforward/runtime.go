package portforward

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// The daemon is a process of its own whose only work is the copy loop, so
// it sets the Go runtime up for that work (measured with `make bench` on a
// 2-core machine; README, Benchmarks):
//
//   - GOMAXPROCS 1. Every packet crosses three goroutines (x/crypto's read
//     loop, its mux loop, our copy loop). With one P a hand-off is a switch
//     on the same thread; with two it wakes another thread (futex, IPI),
//     and the idle one spins looking for work. One P cut the daemon's CPU
//     time by about a third per GiB and a quarter per request, and it is
//     the shape of OpenSSH's client: one thread. sshd, on the other end of
//     the same connection, is single-threaded too.
//   - GOGC 400. x/crypto allocates a fresh 32 KiB+9 B buffer for every
//     packet it reads (a large object: its own span, zeroed pages), so a
//     1 GiB download allocates 1 GiB. At the default GOGC with a live heap
//     of 1-2 MiB that is a collection every 2-3 MiB, ~450 per GiB, plus the
//     scavenger returning pages that are faulted back in at once: a
//     quarter of the daemon's CPU in the profile. GOGC 400 (a 16 MiB
//     minimum heap) brings that under a tenth.
//   - After a busy spell, once no connection is open, the memory is given
//     back (debug.FreeOSMemory), so that an idle daemon stays small.
//
// A GOMAXPROCS or GOGC the operator set in the environment wins.
const (
	daemonProcs     = 1
	daemonGCPercent = 400
	// releaseAfter is how long the forward must have been without an open
	// connection before memory is returned to the OS.
	releaseAfter = time.Second
	// releaseMin is the heap size above which that is worthwhile (a full
	// collection and scavenge); an idle daemon's heap is 1-3 MiB.
	releaseMin = 8 << 20
)

// tuneRuntime applies the settings above; RunDaemon owns its process.
func tuneRuntime(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(daemonProcs)
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(daemonGCPercent)
	}
}

// memoryReleaser returns freed heap to the OS once the forward has been
// idle for releaseAfter. idle is called whenever the last open connection
// closes; busy reports whether any is open now.
type memoryReleaser struct {
	busy  func() bool
	mu    sync.Mutex
	timer *time.Timer
}

func (r *memoryReleaser) idle() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer == nil {
		r.timer = time.AfterFunc(releaseAfter, r.release)
		return
	}
	r.timer.Reset(releaseAfter)
}

func (r *memoryReleaser) release() {
	if r.busy() || heldHeap() < releaseMin {
		return
	}
	debug.FreeOSMemory()
}

// heldHeap is the heap memory the process holds and has not returned to
// the OS: objects (live or garbage not yet collected), unused parts of
// spans, and free spans.
func heldHeap() uint64 {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(s)
	var n uint64
	for _, x := range s {
		if x.Value.Kind() == metrics.KindUint64 {
			n += x.Value.Uint64()
		}
	}
	return n
}
