package policy

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem found in a policy or test file, at the position of
// the offending YAML node. Line and Col are 1-based; 0 means unknown.
type Error struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
	Msg  string `json:"msg"`
}

// Error renders the error the way compilers do, so editors can jump to it:
// "jit.yaml:12:5: rule "sre-prod": target "prdo" does not exist".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
		if e.Col > 0 {
			b.WriteString(strconv.Itoa(e.Col))
			b.WriteByte(':')
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file, sorted by position. Parse
// returns all of them at once so that an author fixes a policy in one round.
type Errors struct {
	List []*Error `json:"errors"`
}

// Error joins the errors one per line.
func (e *Errors) Error() string {
	parts := make([]string, len(e.List))
	for i, x := range e.List {
		parts[i] = x.Error()
	}
	return strings.Join(parts, "\n")
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (e *Errors) Unwrap() []error {
	out := make([]error, len(e.List))
	for i, x := range e.List {
		out[i] = x
	}
	return out
}

// collector accumulates errors for one file; validation carries on after a
// problem so that every problem is reported.
type collector struct {
	file string
	errs []*Error
}

// at records an error at a node's position. A nil node means the start of
// the file, which is where problems with the document as a whole belong.
func (c *collector) at(n *yaml.Node, msg string) {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Col: col, Msg: msg})
}

// err returns the collected errors sorted by position, or nil.
func (c *collector) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(c.errs, func(a, b *Error) int {
		if d := cmp.Compare(a.Line, b.Line); d != 0 {
			return d
		}
		return cmp.Compare(a.Col, b.Col)
	})
	return &Errors{List: c.errs}
}
