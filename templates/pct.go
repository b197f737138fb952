package templates

import (
	"fmt"
	"strings"
)

// pctSafe reports whether b is left as-is by the percent-encoding of the
// result protocol: [A-Za-z0-9._~/:@+,=-]. The payload's nc_pct keeps exactly
// the same set.
func pctSafe(b byte) bool {
	switch {
	case b >= 'A' && b <= 'Z', b >= 'a' && b <= 'z', b >= '0' && b <= '9':
		return true
	}
	return strings.IndexByte("._~/:@+,=-", b) >= 0
}

// PctEncode encodes s as the payload does for result-line values: every byte
// outside [A-Za-z0-9._~/:@+,=-] becomes %XX (upper-case hex).
func PctEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if pctSafe(c) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// PctDecode reverses PctEncode. It is strict: a '%' must be followed by two
// hex digits, and a byte that PctEncode would have escaped must not appear
// raw (a value with a space or a second '=' was not written by the payload).
func PctDecode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) {
				return "", fmt.Errorf("truncated escape at offset %d", i)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", fmt.Errorf("bad escape %q at offset %d", s[i:i+3], i)
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
			continue
		}
		if !pctSafe(c) {
			return "", fmt.Errorf("unescaped byte %q at offset %d", c, i)
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
