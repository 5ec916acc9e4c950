package policy

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/jitaccess/jit/providers"
)

// decodeTargetSpec decodes a target's provider section into the provider's
// settings struct, rejecting keys the struct does not have, and validates
// it. Problems are reported at their real place in the file.
func decodeTargetSpec(c *collector, spec providers.Spec, sec pair, ctx string) providers.TargetSpec {
	ctx += sec.key + ": "
	if spec.NewTargetSpec == nil {
		c.at(sec.k, ctx+"the provider has no target settings")
		return nil
	}
	ts := spec.NewTargetSpec()
	n := resolve(sec.v)
	if isNull(n) {
		n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: sec.v.Line, Column: sec.v.Column}
	}
	errs := len(c.errs)
	checkKnownFields(c, n, reflect.TypeOf(ts), ctx, 0)
	if len(c.errs) != errs {
		return nil
	}
	if err := n.Decode(ts); err != nil {
		reportDecodeError(c, n, err, ctx)
		return nil
	}
	if err := ts.Validate(); err != nil {
		c.at(sec.k, ctx+err.Error())
		return nil
	}
	return ts
}

var (
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkKnownFields walks a node alongside the Go type it decodes into and
// reports every mapping key the type has no field for, as yaml.v3's
// KnownFields would, but with the node's own position. Types that decode
// themselves are trusted to check their input.
func checkKnownFields(c *collector, n *yaml.Node, t reflect.Type, ctx string, depth int) {
	n = resolve(n)
	if n == nil || depth > 32 {
		return
	}
	for t.Kind() == reflect.Pointer {
		if t.Implements(yamlUnmarshalerType) || t.Implements(textUnmarshalerType) {
			return
		}
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(yamlUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // Decode reports the type mismatch
		}
		fieldTypes, open := yamlFields(t)
		known := keysOf(fieldTypes)
		for _, p := range pairs(c, n, ctx) {
			ft, ok := fieldTypes[p.key]
			if !ok {
				if !open {
					c.at(p.k, fmt.Sprintf("%sunknown key %q (known: %s)", ctx, p.key, sortedList(known)))
				}
				continue
			}
			checkKnownFields(c, p.v, ft, nested(ctx, p.key), depth+1)
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for _, p := range pairs(c, n, ctx) {
				checkKnownFields(c, p.v, t.Elem(), nested(ctx, p.key), depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for _, item := range n.Content {
				checkKnownFields(c, item, t.Elem(), ctx, depth+1)
			}
		}
	}
}

// nested extends a message prefix "fake: " to "fake.key: ".
func nested(ctx, key string) string {
	return strings.TrimSuffix(ctx, ": ") + "." + key + ": "
}

// yamlFields maps the YAML keys of a struct to their field types, following
// yaml.v3's rules: the tag's name, else the lower-cased field name; "-"
// skips; ",inline" merges an embedded struct's keys, or, on a map, accepts
// any key (open is then true).
func yamlFields(t reflect.Type) (fields map[string]reflect.Type, open bool) {
	fields = map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Map:
				open = true
			case reflect.Struct:
				inner, innerOpen := yamlFields(ft)
				for k, v := range inner {
					fields[k] = v
				}
				open = open || innerOpen
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields, open
}

// reportDecodeError turns yaml.v3's decode errors ("line 5: cannot
// unmarshal !!seq into string") into positioned errors.
func reportDecodeError(c *collector, n *yaml.Node, err error, ctx string) {
	te, ok := err.(*yaml.TypeError)
	if !ok {
		c.at(n, ctx+strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	for _, e := range te.Errors {
		line, msg := 0, e
		if rest, ok := strings.CutPrefix(e, "line "); ok {
			if num, tail, ok := strings.Cut(rest, ": "); ok {
				if l, err := strconv.Atoi(num); err == nil {
					line, msg = l, tail
				}
			}
		}
		at := nodeOnLine(n, line, msg)
		if at == nil {
			at = n
		}
		c.at(at, ctx+msg)
	}
}

// nodeOnLine finds the node yaml.v3 complained about on a line. Its
// message ("cannot unmarshal !!seq into string", "cannot unmarshal !!str
// `abc` into int") names the node's tag and the start of its value, which
// tells apart the nodes of a flow mapping written on one line; failing
// that, the last node of the line (for "key: value", the value).
func nodeOnLine(n *yaml.Node, line int, msg string) *yaml.Node {
	tag, value := "", ""
	if rest, ok := strings.CutPrefix(msg, "cannot unmarshal "); ok {
		tag, rest, _ = strings.Cut(rest, " ")
		if v, ok := strings.CutPrefix(rest, "`"); ok {
			value, _, _ = strings.Cut(v, "`")
			value = strings.TrimSuffix(value, "...")
		}
	}
	var best, last *yaml.Node
	var walk func(*yaml.Node, int)
	walk = func(x *yaml.Node, depth int) {
		if x == nil || depth > 64 || best != nil {
			return
		}
		if x.Line == line && x.Kind != yaml.DocumentNode {
			last = x
			if tag != "" && x.ShortTag() == tag && strings.HasPrefix(x.Value, value) {
				best = x
				return
			}
		}
		for _, ch := range x.Content {
			walk(ch, depth+1)
		}
	}
	walk(n, 0)
	if best != nil {
		return best
	}
	return last
}
