package recovery

import (
	"fmt"

	"github.com/nemoclaw/nemoclaw-go/portforward"
)

// Forward is one port the host forwards for a sandbox: 127.0.0.1:Local on
// the host to 127.0.0.1:Remote inside. The first of a Target's forwards is
// the dashboard.
type Forward struct {
	Local, Remote int
	// Purpose names it for people: "dashboard", "API", "Hermes dashboard".
	Purpose string
}

// Forward states, as `forward start|status|list` and runs report them.
const (
	ForwardHealthy   = "healthy"   // ours (or OpenShell's, for this sandbox), and an HTTP request through it got an answer
	ForwardUnhealthy = "unhealthy" // ours, but nothing answered through it
	ForwardRunning   = "running"   // ours, not probed (forward list)
	ForwardDead      = "dead"      // a record whose daemon is gone
	ForwardAbsent    = "absent"    // nothing of ours, nothing on the port
	ForwardForeign   = "foreign"   // the port is held by a process not proven ours
	ForwardOrphan    = "orphan"    // a daemon of ours without a record
)

// ForwardReport is one forward as the host found or left it.
type ForwardReport struct {
	Sandbox string `json:"sandbox"`
	Port    int    `json:"port"`
	Remote  int    `json:"remotePort,omitempty"`
	State   string `json:"state"`
	// Action: kept | started | replaced | stopped | removed-stale | none.
	Action string `json:"action,omitempty"`
	// Owner is "nemoclaw" for our daemon, "openshell" for OpenShell's own
	// forward of this sandbox (left alone).
	Owner string `json:"owner,omitempty"`
	PID   int    `json:"pid,omitempty"`
	ID    string `json:"id,omitempty"`
	// URL is set only for a forward proven ours or OpenShell's for this
	// sandbox (SPEC §6: never hand a foreign listener the dashboard URL).
	URL        string                `json:"url,omitempty"`
	HTTPStatus int                   `json:"httpStatus,omitempty"`
	Detail     string                `json:"detail,omitempty"`
	Holder     *portforward.Holder   `json:"holder,omitempty"`
	Counters   *portforward.Counters `json:"counters,omitempty"`
	Log        string                `json:"log,omitempty"`
}

// Summary is the one-line detail of a forward for people.
func (f ForwardReport) Summary() string {
	switch f.State {
	case ForwardHealthy, ForwardRunning, ForwardOrphan:
		if f.Owner == "openshell" {
			return fmt.Sprintf("%s, OpenShell's own forward (left alone)", f.URL)
		}
		s := fmt.Sprintf("pid %d", f.PID)
		if f.URL != "" {
			s = f.URL + " " + s
		}
		if f.Counters != nil {
			s += fmt.Sprintf(", %d active / %d total connections, %d reconnects", f.Counters.ActiveConnections, f.Counters.TotalConnections, f.Counters.Reconnects)
			if !f.Counters.Connected {
				s += ", reconnecting"
			}
		}
		return s
	case ForwardForeign:
		if f.Holder != nil && f.Holder.PID > 0 {
			return fmt.Sprintf("held by pid %d (%s), not ours", f.Holder.PID, f.Holder.Command)
		}
		return "held by a process that is not ours"
	default:
		return f.Detail
	}
}

// URLFor is the dashboard URL of a host port.
func URLFor(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/", port) }
