package templates

import "bytes"

// compact drops what a rendered payload carries only for its readers: the
// full-line comments, the indentation and the blank lines (the templates,
// templates/payload/*.sh.tmpl, keep all three), because every byte is
// pushed on every run and in the OpenShell exec fallback the whole script
// travels base64-encoded in one argument (issue 9 item 10).
//
// Kept: everything up to the line `{` that opens the body (the shebang and
// the note saying where the comments are), `# shellcheck` directives
// without their explanations (the rendered script is linted), and every
// other line, left-trimmed. A line counts as a comment, and its indentation
// as indentation, only when no quoted string is open at its start: the
// scanner follows single quotes, double quotes and backslashes across
// lines, so the inside of a multi-line awk or JavaScript string is kept
// byte for byte. The templates use no here-documents; this scanner does not
// read them.
func compact(script []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(script))
	inBody := false
	var q quoteState
	for _, line := range bytes.SplitAfter(script, []byte("\n")) {
		if !inBody {
			out.Write(line)
			inBody = bytes.Equal(bytes.TrimRight(line, "\n"), []byte("{"))
			continue
		}
		if q.unquoted() {
			line = bytes.TrimLeft(line, " \t")
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if line[0] == '#' {
				if !bytes.HasPrefix(line, []byte("# shellcheck ")) {
					continue
				}
				if i := bytes.Index(line[2:], []byte(" #")); i >= 0 {
					line = append(line[:2+i:2+i], '\n')
				}
			}
		}
		out.Write(line)
		q = q.scan(line)
	}
	return out.Bytes()
}

// quoteState is what is open at the end of a line, for the comment
// scanner: a stack of single quotes, double quotes, $(...) and ${...}, each
// of which may open the others inside it as the shell allows. Empty means
// the next line starts as shell code.
type quoteState struct{ stack []frame }

type frame struct {
	kind  byte // '\'', '"', '(' for $(...), '{' for ${...}
	depth int  // open plain parentheses inside a $(...)
}

func (q quoteState) unquoted() bool { return len(q.stack) == 0 }

// scan follows line from state q and returns the state at its end. An
// unquoted `#` at the start of a word starts a comment that ends the line.
func (q quoteState) scan(line []byte) quoteState {
	st := append([]frame(nil), q.stack...)
	top := func() byte {
		if len(st) == 0 {
			return 0
		}
		return st[len(st)-1].kind
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		next := byte(0)
		if i+1 < len(line) {
			next = line[i+1]
		}
		switch top() {
		case '\'':
			if c == '\'' {
				st = st[:len(st)-1]
			}
			continue
		case '"':
			switch {
			case c == '\\':
				i++
			case c == '"':
				st = st[:len(st)-1]
			case c == '$' && next == '(':
				st = append(st, frame{kind: '('})
				i++
			case c == '$' && next == '{':
				st = append(st, frame{kind: '{'})
				i++
			}
			continue
		}
		// Code: the top level, or inside $(...) or ${...}.
		switch {
		case c == '\\':
			i++
		case c == '\'':
			st = append(st, frame{kind: '\''})
		case c == '"':
			st = append(st, frame{kind: '"'})
		case c == '$' && next == '(':
			st = append(st, frame{kind: '('})
			i++
		case c == '$' && next == '{':
			st = append(st, frame{kind: '{'})
			i++
		case c == '(' && top() == '(':
			st[len(st)-1].depth++
		case c == ')' && top() == '(':
			if st[len(st)-1].depth == 0 {
				st = st[:len(st)-1]
			} else {
				st[len(st)-1].depth--
			}
		case c == '}' && top() == '{':
			st = st[:len(st)-1]
		case c == '#' && top() != '{' && (i == 0 || bytes.IndexByte([]byte(" \t;&|()"), line[i-1]) >= 0):
			return quoteState{st}
		}
	}
	return quoteState{st}
}
