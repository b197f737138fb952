package portforward

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nemoclaw/nemoclaw-go/internal/statefs"
)

// State is the record a daemon leaves under ~/.nemoclaw/state/forwards/ so
// that later commands can find it and prove it is ours (see Verify). It is
// written by the daemon itself once it is serving, and removed by it on a
// clean exit; a record whose daemon died stays behind and is "stale".
type State struct {
	PID       int       `json:"pid"`
	Sandbox   string    `json:"sandbox"`
	Port      int       `json:"port"`
	Remote    string    `json:"remote"`
	ID        string    `json:"id"`
	Binary    string    `json:"binary"`
	StartedAt time.Time `json:"startedAt"`
	Control   string    `json:"controlSocket"`
	Log       string    `json:"log"`
}

// Paths are the files of one forward (one sandbox and port).
type Paths struct {
	State   string
	Control string
	Log     string
	Lock    string
}

// PathsFor names the files of the forward of sandbox on port inside dir
// (~/.nemoclaw/state/forwards).
func PathsFor(dir, sandbox string, port int) Paths {
	base := fmt.Sprintf("%s-%d", sandbox, port)
	return Paths{
		State:   filepath.Join(dir, base+".json"),
		Control: filepath.Join(dir, base+".sock"),
		Log:     filepath.Join(dir, base+".log"),
		Lock:    filepath.Join(dir, base+".lock"),
	}
}

// WriteState writes s to path atomically, mode 0600 in a 0700 directory,
// so a reader never sees half a record.
func WriteState(path string, s State) error {
	if err := statefs.EnsurePrivateDir(filepath.Dir(path)); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := statefs.WriteAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("writing forward state: %w", err)
	}
	return nil
}

// ReadState reads one record. A missing file is fs.ErrNotExist.
func ReadState(path string) (State, error) {
	var s State
	data, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("reading forward state %s: %w", path, err)
	}
	return s, nil
}

// ListStates returns every record in dir, sorted by sandbox and port. A
// missing dir is an empty list; unreadable records are skipped and reported
// in the error list.
func ListStates(dir string) ([]State, []error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{err}
	}
	var out []State
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		s, err := ReadState(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Sandbox != out[j].Sandbox {
			return out[i].Sandbox < out[j].Sandbox
		}
		return out[i].Port < out[j].Port
	})
	return out, errs
}

// RemoveStateIf removes the record at path only if it still carries id, so
// a daemon that is replaced never deletes its successor's record.
func RemoveStateIf(path, id string) {
	s, err := ReadState(path)
	if err != nil || s.ID != id {
		return
	}
	os.Remove(path)
}
