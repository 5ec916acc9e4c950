package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// parseDocument parses data into the root node of its single YAML document.
// Syntax errors become positioned errors in c; the result is nil then.
func parseDocument(c *collector, data []byte) *yaml.Node {
	if i := invalidUTF8(data); i >= 0 {
		line, col := position(data, i)
		c.errs = append(c.errs, &Error{File: c.file, Line: line, Col: col, Msg: "invalid UTF-8: the file must be UTF-8 text"})
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
		}
		c.errs = append(c.errs, syntaxError(c.file, err))
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		c.at(&next, "a second YAML document: the file must hold exactly one document")
		return nil
	} else if !errors.Is(err, io.EOF) {
		c.errs = append(c.errs, syntaxError(c.file, err))
		return nil
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
}

// syntaxError turns a yaml.v3 error ("yaml: line 3: mapping values are not
// allowed in this context") into a positioned error. yaml.v3 does not give
// a column for syntax errors.
func syntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, perr := strconv.Atoi(num); perr == nil && n > 0 {
				line, msg = n, tail
			}
		}
	}
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + msg}
}

// invalidUTF8 returns the offset of the first byte that is not valid UTF-8,
// or -1. yaml.v3 reports such bytes without a position.
func invalidUTF8(data []byte) int {
	if utf8.Valid(data) {
		return -1
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

// position converts a byte offset to a 1-based line and column (in runes).
func position(data []byte, off int) (line, col int) {
	line = 1 + bytes.Count(data[:off], []byte{'\n'})
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return line, 1 + utf8.RuneCount(data[start:off])
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether a node is absent or an explicit null ("key:" with
// no value, "~", "null"), which the policy treats as "not set".
func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// kindName names a node's kind for messages.
func kindName(n *yaml.Node) string {
	n = resolve(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "a scalar"
	}
	return "nothing"
}

// pair is one key/value of a mapping, with both nodes for positions.
type pair struct {
	key   string
	k, v  *yaml.Node
	known bool
}

// pairs returns the entries of a mapping node with merge keys ("<<: *base")
// expanded: explicit keys win over merged ones, earlier merges over later
// ones, as YAML specifies. Duplicate explicit keys are errors. ctx prefixes
// messages ("rule \"x\": ").
func pairs(c *collector, n *yaml.Node, ctx string) []pair {
	var out []pair
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	n = resolve(n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			c.at(k, ctx+"keys must be plain strings, not "+kindName(k))
			continue
		}
		if k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			c.at(k, fmt.Sprintf("%skey %q is repeated (first at line %d)", ctx, k.Value, first.Line))
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{key: k.Value, k: k, v: v})
	}
	return appendMerged(c, out, seen, merges, ctx, 0)
}

func appendMerged(c *collector, out []pair, seen map[string]*yaml.Node, merges []*yaml.Node, ctx string, depth int) []pair {
	for _, m := range merges {
		m = resolve(m)
		var srcs []*yaml.Node
		switch {
		case m.Kind == yaml.MappingNode:
			srcs = []*yaml.Node{m}
		case m.Kind == yaml.SequenceNode:
			srcs = m.Content
		}
		if srcs == nil {
			c.at(m, ctx+"a merge key (<<) needs a mapping or a list of mappings")
			continue
		}
		for _, s := range srcs {
			s = resolve(s)
			if s.Kind != yaml.MappingNode {
				c.at(s, ctx+"a merge key (<<) needs a mapping or a list of mappings")
				continue
			}
			if depth > 8 {
				c.at(s, ctx+"merge keys (<<) nested too deeply")
				continue
			}
			var inner []*yaml.Node
			for i := 0; i+1 < len(s.Content); i += 2 {
				k, v := resolve(s.Content[i]), s.Content[i+1]
				if k.Kind != yaml.ScalarNode {
					continue // reported where the merged mapping is defined
				}
				if k.Tag == "!!merge" {
					inner = append(inner, v)
					continue
				}
				if _, dup := seen[k.Value]; dup {
					continue
				}
				seen[k.Value] = k
				out = append(out, pair{key: k.Value, k: k, v: v})
			}
			out = appendMerged(c, out, seen, inner, ctx, depth+1)
		}
	}
	return out
}

// fields checks that n is a mapping whose keys are all in known, reporting
// every unknown key with the list of known ones, and returns the entries by
// key. A null node is an empty mapping.
func fields(c *collector, n *yaml.Node, ctx string, known ...string) (map[string]pair, bool) {
	n = resolve(n)
	if isNull(n) {
		return map[string]pair{}, true
	}
	if n.Kind != yaml.MappingNode {
		c.at(n, fmt.Sprintf("%sexpected a mapping, not %s", ctx, kindName(n)))
		return nil, false
	}
	out := map[string]pair{}
	for _, p := range pairs(c, n, ctx) {
		if !slices.Contains(known, p.key) {
			c.at(p.k, fmt.Sprintf("%sunknown key %q (known: %s)", ctx, p.key, sortedList(known)))
			continue
		}
		out[p.key] = p
	}
	return out, true
}

// sortedList renders names sorted and comma-separated.
func sortedList(names []string) string { return shortList(names, len(names)) }

// knownList is sortedList shortened, for lists that grow with the policy
// (targets, groups), so that a message stays on one readable line.
func knownList(names []string) string { return shortList(names, 12) }

func shortList(names []string, maxShown int) string {
	s := slices.Clone(names)
	slices.Sort(s)
	s = slices.Compact(s)
	if len(s) > maxShown {
		return strings.Join(s[:maxShown], ", ") + fmt.Sprintf(", … (%d more)", len(s)-maxShown)
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// scalar returns a scalar's text; null is "". Anything else is an error.
func scalar(c *collector, n *yaml.Node, ctx, what string) (string, bool) {
	n = resolve(n)
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		c.at(n, fmt.Sprintf("%s%s must be a string, not %s", ctx, what, kindName(n)))
		return "", false
	}
	return n.Value, true
}

// boolean decodes a YAML bool (true/false).
func boolean(c *collector, n *yaml.Node, ctx, what string) (bool, bool) {
	n = resolve(n)
	if isNull(n) {
		return false, true
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		c.at(n, fmt.Sprintf("%s%s must be true or false", ctx, what))
		return false, false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", true
}

// integer decodes a YAML int.
func integer(c *collector, n *yaml.Node, ctx, what string) (int, bool) {
	n = resolve(n)
	var v int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		c.at(n, fmt.Sprintf("%s%s must be a whole number", ctx, what))
		return 0, false
	}
	return v, true
}

// strings decodes a list of strings; a single scalar is a list of one, so
// that "subjects: group:sre" reads as expected.
func stringList(c *collector, n *yaml.Node, ctx, what string) ([]string, []*yaml.Node, bool) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil, true
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}, []*yaml.Node{n}, true
	}
	if n.Kind != yaml.SequenceNode {
		c.at(n, fmt.Sprintf("%s%s must be a list of strings, not %s", ctx, what, kindName(n)))
		return nil, nil, false
	}
	out := make([]string, 0, len(n.Content))
	nodes := make([]*yaml.Node, 0, len(n.Content))
	ok := true
	for _, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
			c.at(item, fmt.Sprintf("%s%s must be a list of strings, found %s", ctx, what, kindName(item)))
			ok = false
			continue
		}
		out = append(out, item.Value)
		nodes = append(nodes, item)
	}
	return out, nodes, ok
}

// positiveDuration decodes a duration that must be above zero.
func positiveDuration(c *collector, n *yaml.Node, ctx, what string) (time.Duration, bool) {
	s, ok := scalar(c, n, ctx, what)
	if !ok {
		return 0, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		c.at(n, ctx+what+": "+err.Error())
		return 0, false
	}
	if d <= 0 {
		c.at(n, fmt.Sprintf("%s%s must be positive, not %s", ctx, what, s))
		return 0, false
	}
	return d, true
}
