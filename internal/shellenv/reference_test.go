package shellenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// The readers below turn rendered output back into variables the way the
// consumer does, for formats whose consumer is not installed here. They are
// written from the consumers' rules, not as inverses of the renderers: each
// accepts more than Render produces and rejects what would be read
// differently than intended.

// env is the result of reading an output: values set, names removed.
type env struct {
	set   map[string]string
	unset map[string]bool
}

func newEnv() env { return env{set: map[string]string{}, unset: map[string]bool{}} }

// PowerShell quote characters, from the PowerShell language specification
// (§2.3.1): these count as ' and " in strings.
func isPwshSingleQuote(r rune) bool {
	return r == '\'' || r == '\u2018' || r == '\u2019' || r == '\u201a' || r == '\u201b'
}

func isPwshDoubleQuote(r rune) bool {
	return r == '"' || r == '\u201c' || r == '\u201d' || r == '\u201e'
}

// readPwsh reads the pwsh format as `… | Invoke-Expression` does: line by
// line, each line one complete statement. Lines must be printable ASCII, or
// the console code page could change them on the way.
func readPwsh(out []byte) (env, error) {
	e := newEnv()
	text := string(out)
	if !strings.HasSuffix(text, "\n") && text != "" {
		return e, errors.New("output does not end in a newline")
	}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if text == "" {
			break
		}
		for i := 0; i < len(line); i++ {
			if c := line[i]; c < 0x20 || c > 0x7e {
				return e, fmt.Errorf("line %d: byte %#x is not printable ASCII", n+1, c)
			}
		}
		if rest, ok := strings.CutPrefix(line, "Remove-Item Env:"); ok {
			name, opts, _ := strings.Cut(rest, " ")
			if checkName(name) != nil || opts != "-ErrorAction SilentlyContinue" {
				return e, fmt.Errorf("line %d: bad Remove-Item %q", n+1, line)
			}
			e.unset[name] = true
			delete(e.set, name)
			continue
		}
		rest, ok := strings.CutPrefix(line, "$env:")
		if !ok {
			return e, fmt.Errorf("line %d: unknown statement %q", n+1, line)
		}
		name, expr, ok := strings.Cut(rest, " = ")
		if !ok || checkName(name) != nil {
			return e, fmt.Errorf("line %d: bad assignment %q", n+1, line)
		}
		val, tail, err := pwshString([]rune(expr))
		if err != nil {
			return e, fmt.Errorf("line %d: %w", n+1, err)
		}
		if strings.TrimSpace(string(tail)) != "" {
			return e, fmt.Errorf("line %d: text after the string: %q", n+1, string(tail))
		}
		e.set[name] = val
		delete(e.unset, name)
	}
	return e, nil
}

// pwshString reads one PowerShell string literal: single-quoted (a doubled
// quote character of any kind stands for the second one) or expandable
// double-quoted with backtick escapes and $(...) subexpressions, of which
// only [char]0xHHHH is understood. A $ that would start a variable
// expansion is an error; a lone $ is literal, as in PowerShell.
func pwshString(s []rune) (string, []rune, error) {
	if len(s) == 0 {
		return "", nil, errors.New("missing string")
	}
	var units []uint16
	add := func(r rune) { units = append(units, utf16.Encode([]rune{r})...) }
	switch {
	case isPwshSingleQuote(s[0]):
		for i := 1; i < len(s); i++ {
			r := s[i]
			if isPwshSingleQuote(r) {
				if i+1 < len(s) && isPwshSingleQuote(s[i+1]) {
					add(s[i+1])
					i++
					continue
				}
				return string(utf16.Decode(units)), s[i+1:], nil
			}
			add(r)
		}
		return "", nil, errors.New("unterminated single-quoted string")
	case isPwshDoubleQuote(s[0]):
		for i := 1; i < len(s); i++ {
			r := s[i]
			switch {
			case r == '`':
				if i+1 == len(s) {
					return "", nil, errors.New("backtick at end of line")
				}
				i++
				switch s[i] {
				case '0':
					add(0)
				case 'a':
					add('\a')
				case 'b':
					add('\b')
				case 'f':
					add('\f')
				case 'n':
					add('\n')
				case 'r':
					add('\r')
				case 't':
					add('\t')
				case 'v':
					add('\v')
				case 'e', 'u':
					return "", nil, fmt.Errorf("escape `%c exists only in PowerShell 6 and later", s[i])
				default:
					add(s[i])
				}
			case isPwshDoubleQuote(r):
				if i+1 < len(s) && isPwshDoubleQuote(s[i+1]) {
					add(s[i+1])
					i++
					continue
				}
				return string(utf16.Decode(units)), s[i+1:], nil
			case r == '$' && i+1 < len(s) && s[i+1] == '(':
				end := i
				for end < len(s) && s[end] != ')' {
					end++
				}
				if end == len(s) {
					return "", nil, errors.New("unterminated subexpression")
				}
				sub := string(s[i : end+1])
				hex, ok := strings.CutPrefix(sub, "$([char]0x")
				if !ok {
					return "", nil, fmt.Errorf("unsupported subexpression %q", sub)
				}
				u, err := strconv.ParseUint(strings.TrimSuffix(hex, ")"), 16, 16)
				if err != nil {
					return "", nil, fmt.Errorf("subexpression %q: %w", sub, err)
				}
				units = append(units, uint16(u))
				i = end
			case r == '$' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '_' || s[i+1] == '?' || s[i+1] == '^' || s[i+1] == '$' || s[i+1] == ':' ||
				'a' <= s[i+1] && s[i+1] <= 'z' || 'A' <= s[i+1] && s[i+1] <= 'Z' || '0' <= s[i+1] && s[i+1] <= '9'):
				return "", nil, fmt.Errorf("unescaped $ would expand a variable at %q", string(s[i:]))
			default:
				add(r)
			}
		}
		return "", nil, errors.New("unterminated double-quoted string")
	}
	return "", nil, fmt.Errorf("expression %q is not a string literal", string(s))
}

// readDotenv reads the dotenv format with the double-quoted rules of Ruby's
// dotenv and joho/godotenv: \n and \r stand for newline and carriage return,
// a backslash before any other character stands for that character, the
// first unescaped " ends the value, and an unescaped $ would expand a
// variable, which the renderer must never leave.
func readDotenv(out []byte) (env, error) {
	e := newEnv()
	rest := out
	for len(rest) > 0 {
		line, after, found := bytes.Cut(rest, []byte("\n"))
		if !found {
			return e, errors.New("last line does not end in a newline")
		}
		rest = after
		name, quoted, ok := bytes.Cut(line, []byte("="))
		if !ok || checkName(string(name)) != nil {
			return e, fmt.Errorf("bad line %q", line)
		}
		if len(quoted) < 2 || quoted[0] != '"' {
			return e, fmt.Errorf("%s: value is not double-quoted", name)
		}
		var val []byte
		i := 1
	scan:
		for ; i < len(quoted); i++ {
			switch c := quoted[i]; c {
			case '\\':
				if i+1 == len(quoted) {
					return e, fmt.Errorf("%s: backslash at end of line", name)
				}
				i++
				switch quoted[i] {
				case 'n':
					val = append(val, '\n')
				case 'r':
					val = append(val, '\r')
				default:
					val = append(val, quoted[i])
				}
			case '"':
				break scan
			case '$':
				return e, fmt.Errorf("%s: unescaped $ would expand", name)
			case '\r':
				return e, fmt.Errorf("%s: raw carriage return (parsers read CRLF as a line end)", name)
			default:
				val = append(val, c)
			}
		}
		if i != len(quoted)-1 {
			return e, fmt.Errorf("%s: text after the closing quote or no closing quote", name)
		}
		e.set[string(name)] = string(val)
	}
	return e, nil
}

// readJSON reads the json format.
func readJSON(out []byte) (env, error) {
	e := newEnv()
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e.set); err != nil {
		return e, err
	}
	if dec.More() {
		return e, errors.New("more than one JSON value")
	}
	if !bytes.HasSuffix(out, []byte("}\n")) {
		return e, errors.New("no trailing newline")
	}
	return e, nil
}

// readGitHubEnv reads a $GITHUB_ENV file the way actions/runner's
// SetEnvFileCommand does (src/Runner.Worker/FileCommandManager.cs): lines
// end at LF, or on Windows runners at CRLF; `NAME=VALUE` or
// `NAME<<DELIMITER`, whose value is the text between that line and the
// first line equal to the delimiter, without the line end before it.
func readGitHubEnv(file []byte, windows bool) (env, error) {
	e := newEnv()
	text := string(file)
	index := 0
	readLine := func() (line string, newline int, ok bool) {
		if index >= len(text) {
			return "", 0, false
		}
		start := index
		lf := strings.IndexByte(text[index:], '\n')
		if lf < 0 {
			index = len(text)
			return text[start:], 0, true
		}
		lf += index
		if windows {
			if crlf := strings.Index(text[index:], "\r\n"); crlf >= 0 && crlf+index < lf {
				index = crlf + index + 2
				return text[start : index-2], 2, true
			}
		}
		index = lf + 1
		return text[start:lf], 1, true
	}
	for {
		line, _, ok := readLine()
		if !ok {
			return e, nil
		}
		if line == "" {
			continue
		}
		eq, hd := strings.Index(line, "="), strings.Index(line, "<<")
		switch {
		case eq >= 0 && (hd < 0 || eq < hd):
			e.set[line[:eq]] = line[eq+1:]
		case hd >= 0 && (eq < 0 || hd < eq):
			name, delim := line[:hd], line[hd+2:]
			if name == "" || delim == "" {
				return e, fmt.Errorf("bad heredoc line %q", line)
			}
			start, end := index, index
			for {
				l, nl, ok := readLine()
				if !ok {
					return e, fmt.Errorf("%s: delimiter %q not found", name, delim)
				}
				if l == delim {
					break
				}
				end = index - nl
			}
			if end > start {
				e.set[name] = text[start:end]
			} else {
				e.set[name] = ""
			}
		default:
			return e, fmt.Errorf("bad line %q", line)
		}
	}
}

// readGitHubMasks reads workflow commands from a step's stdout the way
// actions/runner's ActionCommand.TryParseV2 does and returns the data of
// every add-mask command, unescaped (%0D, %0A, then %25).
func readGitHubMasks(stdout []byte) ([]string, error) {
	var masks []string
	for _, line := range strings.Split(strings.TrimSuffix(string(stdout), "\n"), "\n") {
		if line == "" {
			continue
		}
		msg := strings.TrimLeft(line, " \t")
		data, ok := strings.CutPrefix(msg, "::add-mask::")
		if !ok {
			return nil, fmt.Errorf("stdout line is not an add-mask command: %q", line)
		}
		data = strings.ReplaceAll(data, "%0D", "\r")
		data = strings.ReplaceAll(data, "%0A", "\n")
		data = strings.ReplaceAll(data, "%25", "%")
		if strings.TrimSpace(data) == "" {
			return nil, errors.New("empty add-mask (the runner only warns)")
		}
		masks = append(masks, data)
	}
	return masks, nil
}
