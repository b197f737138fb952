// Package accounts writes the passwd, group and shadow copies that a lab
// sandbox or a test sshd sees, bind-mounted over /etc in its own mount
// namespace, so that the host's files are never edited. The copies keep
// every host account (sshd needs its `sshd` user) except any that would
// clash with the added ones by name or id: a CI runner's own user often has
// uid 1001, and `id -un` inside would then print its name.
package accounts

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// User is one account to add, with a group of the same name and id.
type User struct {
	Name  string
	ID    int // uid and gid
	Home  string
	Shell string
}

// Files are the three copies, keyed "passwd", "group", "shadow".
type Files map[string][]byte

// Copy reads passwd, group and shadow from etcDir (normally /etc) and
// returns them without lines that clash with users, with users appended.
func Copy(etcDir string, users ...User) (Files, error) {
	names := map[string]bool{}
	ids := map[int]bool{}
	for _, u := range users {
		names[u.Name], ids[u.ID] = true, true
	}
	clash := func(fields []string, idField int) bool {
		if names[fields[0]] {
			return true
		}
		if idField < 0 || idField >= len(fields) {
			return false
		}
		id, err := strconv.Atoi(fields[idField])
		return err == nil && ids[id]
	}
	out := Files{}
	for _, f := range []struct {
		name    string
		idField int // uid in passwd, gid in group; shadow has none
	}{{"passwd", 2}, {"group", 2}, {"shadow", -1}} {
		path := filepath.Join(etcDir, f.name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		var b bytes.Buffer
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := sc.Text()
			if strings.TrimSpace(line) == "" || clash(strings.Split(line, ":"), f.idField) {
				continue
			}
			b.WriteString(line + "\n")
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		for _, u := range users {
			switch f.name {
			case "passwd":
				fmt.Fprintf(&b, "%s:x:%d:%d:%s:%s:%s\n", u.Name, u.ID, u.ID, u.Name, u.Home, u.Shell)
			case "group":
				fmt.Fprintf(&b, "%s:x:%d:\n", u.Name, u.ID)
			case "shadow":
				// "*": no password, yet not locked ("!" is refused by
				// sshd without PAM, a missing line by PAM's account check).
				fmt.Fprintf(&b, "%s:*:20000:0:99999:7:::\n", u.Name)
			}
		}
		out[f.name] = b.Bytes()
	}
	return out, nil
}
