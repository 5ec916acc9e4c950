package policy

import (
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// Patterns (subjects, targets, group members) use path.Match syntax: *, ?,
// [class] and \ escapes. Unlike path.Match, * and ? also match "/": the
// names matched are mostly ARNs, where "/" separates parts of one name
// rather than directories, and "arn:aws:iam::111111111111:*" or "*" must
// mean every user, as the same wildcards do in IAM policies.

// glob is a pattern with its literal prefix, which rejects most
// non-matching names with one comparison before the matcher runs.
type glob struct {
	pat    string
	prefix string
}

func newGlob(pat string) glob {
	i := strings.IndexAny(pat, `*?[\`)
	if i < 0 {
		i = len(pat)
	}
	return glob{pat: pat, prefix: pat[:i]}
}

func (g glob) match(s string) bool {
	return strings.HasPrefix(s, g.prefix) && globMatch(g.pat, s)
}

// globMatch reports whether s matches the whole pattern. It backtracks
// only to the last star, which is enough for glob patterns and keeps the
// cost linear in practice.
func globMatch(pat, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(pat) || sx < len(s) {
		if px < len(pat) {
			switch pat[px] {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					_, n := utf8.DecodeRuneInString(s[sx:])
					px, sx = px+1, sx+n
					continue
				}
			case '[':
				if sx < len(s) {
					r, n := utf8.DecodeRuneInString(s[sx:])
					if ok, w := matchClass(pat[px:], r); ok {
						px, sx = px+w, sx+n
						continue
					}
				}
			case '\\':
				// The escaped character is compared byte for byte, as
				// path.Match does, so invalid UTF-8 never matches loosely.
				if px+1 < len(pat) {
					_, pn := utf8.DecodeRuneInString(pat[px+1:])
					if lit := pat[px+1 : px+1+pn]; strings.HasPrefix(s[sx:], lit) {
						px, sx = px+1+pn, sx+pn
						continue
					}
				}
			default:
				if sx < len(s) && pat[px] == s[sx] {
					px, sx = px+1, sx+1
					continue
				}
			}
		}
		// Mismatch: let the last star swallow one more byte (path.Match
		// steps by bytes too; literals still only match whole characters
		// of valid UTF-8, which cannot start mid-character).
		if starPx >= 0 && starSx < len(s) {
			starSx++
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}

// matchClass matches r against the class that starts pat ("[a-z]",
// "[^/]", "[\]]"), returning whether it matched and the class's length.
// A malformed class (rejected at Parse) never matches.
func matchClass(pat string, r rune) (bool, int) {
	i, negated, matched := 1, false, false
	if i < len(pat) && pat[i] == '^' {
		negated, i = true, i+1
	}
	for first := true; ; first = false {
		if i >= len(pat) {
			return false, 0
		}
		if pat[i] == ']' && !first {
			i++
			break
		}
		lo, n := classChar(pat[i:])
		if n == 0 {
			return false, 0
		}
		i += n
		hi := lo
		if i < len(pat) && pat[i] == '-' {
			if hi, n = classChar(pat[i+1:]); n == 0 {
				return false, 0
			}
			i += 1 + n
		}
		if lo <= r && r <= hi {
			matched = true
		}
	}
	return matched != negated, i
}

// classChar reads one possibly escaped character of a class; 0 length for
// a character that cannot appear there unescaped.
func classChar(s string) (rune, int) {
	if s == "" || s[0] == '-' || s[0] == ']' {
		return 0, 0
	}
	if s[0] == '\\' {
		if len(s) < 2 {
			return 0, 0
		}
		r, n := utf8.DecodeRuneInString(s[1:])
		return r, 1 + n
	}
	return utf8.DecodeRuneInString(s)
}

// isGlob reports whether s uses path.Match syntax; anything else is matched
// exactly.
func isGlob(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// validGlob reports whether the pattern's syntax is valid, by path.Match's
// rules; since Go 1.16 it checks the whole pattern even when the name does
// not match.
func validGlob(pat string) bool {
	_, err := path.Match(pat, "")
	return err == nil
}

// globIndex finds the patterns that match a name without trying them all:
// patterns are grouped by their literal prefix, so a lookup costs one map
// probe per distinct prefix length plus a match per pattern whose prefix
// the name starts with. Each pattern carries the ids (rules or groups) that
// use it, ascending.
type globIndex struct {
	byPrefix map[string][]*globEntry
	byPat    map[string]*globEntry
	lengths  []int // distinct prefix lengths, ascending
}

type globEntry struct {
	glob
	ids []int32
}

func (x *globIndex) add(pat string, id int32) {
	if x.byPat == nil {
		x.byPat = map[string]*globEntry{}
		x.byPrefix = map[string][]*globEntry{}
	}
	e, ok := x.byPat[pat]
	if !ok {
		e = &globEntry{glob: newGlob(pat)}
		x.byPat[pat] = e
		x.byPrefix[e.prefix] = append(x.byPrefix[e.prefix], e)
		if i, found := slices.BinarySearch(x.lengths, len(e.prefix)); !found {
			x.lengths = slices.Insert(x.lengths, i, len(e.prefix))
		}
	}
	if n := len(e.ids); n == 0 || e.ids[n-1] != id {
		e.ids = append(e.ids, id)
	}
}

// match calls fn with the ids of every pattern that matches s.
func (x *globIndex) match(s string, fn func(ids []int32)) {
	for _, l := range x.lengths {
		if l > len(s) {
			return
		}
		for _, e := range x.byPrefix[s[:l]] {
			if globMatch(e.pat, s) {
				fn(e.ids)
			}
		}
	}
}
