package policy

import (
	"path"
	"slices"
	"strings"
)

// glob is a path.Match pattern with its literal prefix, which rejects most
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
	if !strings.HasPrefix(s, g.prefix) {
		return false
	}
	ok, _ := path.Match(g.pat, s)
	return ok
}

// isGlob reports whether s uses path.Match syntax; anything else is matched
// exactly.
func isGlob(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// validGlob reports whether path.Match accepts the pattern; since Go 1.16
// it checks the whole pattern even when the name does not match.
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
			if ok, _ := path.Match(e.pat, s); ok {
				fn(e.ids)
			}
		}
	}
}
