package portforward

import (
	"math/rand/v2"
	"time"
)

// Backoff is the reconnect schedule: capped exponential with jitter.
//
// Attempt n (1-based) waits a delay d = min(Max, Initial·2^(n-1)), jittered
// to a uniform value in [d/2, d] ("equal jitter"): never more than Max, so a
// forward whose sandbox comes back is serving again within Max of it
// answering, and never less than Initial/2, so a sandbox that is down is
// not hammered. Many forwards that lost the same gateway spread out instead
// of reconnecting in lockstep.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// DefaultBackoff starts at 200 ms and is capped at 5 s: the promise to an
// operator is "a forward heals within about 5 s of the sandbox's sshd being
// back".
var DefaultBackoff = Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}

// Delay is the wait before reconnect attempt n (n ≥ 1). rnd returns a value
// in [0, 1); nil means math/rand.
func (b Backoff) Delay(n int, rnd func() float64) time.Duration {
	if rnd == nil {
		rnd = rand.Float64
	}
	if n < 1 {
		n = 1
	}
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	half := d / 2
	return half + time.Duration(rnd()*float64(d-half))
}
