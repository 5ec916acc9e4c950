package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jitaccess/jit/providers"
)

type richBase struct {
	Account string `yaml:"account"`
}

type richStatement struct {
	Effect string `yaml:"effect"`
}

// upper decodes itself, so its contents are not checked key by key.
type upper struct{ v string }

func (u *upper) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("upper wants a scalar")
	}
	u.v = strings.ToUpper(n.Value)
	return nil
}

// richSpec exercises yaml.v3's field rules: inline structs, skipped and
// untagged fields, lists of structs and self-decoding types.
type richSpec struct {
	richBase   `yaml:",inline"`
	Untagged   string
	Skipped    string          `yaml:"-"`
	Statements []richStatement `yaml:"statements"`
	Name       upper           `yaml:"name"`
	hidden     string
}

func (s *richSpec) Validate() error { return nil }

// openSpec accepts any extra key through an inline map.
type openSpec struct {
	Kind  string            `yaml:"kind"`
	Extra map[string]string `yaml:",inline"`
}

func (s *openSpec) Validate() error { return nil }

func richOptions() Options {
	return Options{File: "jit.yaml", Providers: map[string]providers.Spec{
		"rich": {Name: "rich", NewTargetSpec: func() providers.TargetSpec { return &richSpec{} }},
		"open": {Name: "open", NewTargetSpec: func() providers.TargetSpec { return &openSpec{} }},
	}}
}

func TestStrictSpecDecoding(t *testing.T) {
	ok := "version: 1\ntargets:\n  a:\n    provider: rich\n    rich:\n      account: \"1\"\n      untagged: u\n      statements: [{effect: allow}]\n      name: bob\n" +
		"  b:\n    provider: open\n    open: {kind: k, anything: goes}\n"
	p, err := Parse([]byte(ok), richOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := &richSpec{richBase: richBase{Account: "1"}, Untagged: "u", Statements: []richStatement{{Effect: "allow"}}, Name: upper{"BOB"}}
	if got := p.Targets["a"].Spec; !reflect.DeepEqual(got, want) {
		t.Errorf("spec = %#v", got)
	}
	if got := p.Targets["b"].Spec.(*openSpec); got.Kind != "k" || got.Extra["anything"] != "goes" {
		t.Errorf("open spec = %#v", got)
	}
	tests := []struct{ name, section, want string }{
		{"skipped field is unknown", "skipped: x",
			`jit.yaml:6:7: target "a": rich: unknown key "skipped" (known: account, name, statements, untagged)`},
		{"unexported field is unknown", "hidden: x",
			`jit.yaml:6:7: target "a": rich: unknown key "hidden" (known: account, name, statements, untagged)`},
		{"key inside a list of structs", "statements: [{effect: allow, action: x}]",
			`jit.yaml:6:36: target "a": rich.statements: unknown key "action" (known: effect)`},
		{"self-decoding type reports its own error", "name: [x]",
			`jit.yaml:6:7: target "a": rich: upper wants a scalar`},
		{"repeated key", "account: a\n      account: b",
			`jit.yaml:7:7: target "a": rich: key "account" is repeated (first at line 6)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: 1\ntargets:\n  a:\n    provider: rich\n    rich:\n      " + tt.section + "\n"
			_, err := Parse([]byte(src), richOptions())
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant  %s", err, tt.want)
			}
		})
	}
}

func TestMergeKeys(t *testing.T) {
	src := `version: 1
x-defaults: &d {provider: fake, max_duration: 2h}
targets:
  base: &b
    provider: fake
    fake: &f {role: base, region: eu}
    max_duration: 4h
  a:
    <<: [*b]
    description: from a list of merges
  b:
    <<: *b
    fake:
      <<: *f
      role: own
    max_duration: 1h
`
	_, err := Parse([]byte(src), testOptions())
	// Top-level helper keys are not allowed: anchors live inside known keys.
	if err == nil || err.Error() != `jit.yaml:2:1: unknown key "x-defaults" (known: audit, groups, identity, rules, targets, version)` {
		t.Fatalf("err = %v", err)
	}
	p := mustParse(t, strings.Replace(src, "x-defaults: &d {provider: fake, max_duration: 2h}\n", "", 1))
	if a := p.Targets["a"]; a.MaxDuration != 4*time.Hour || a.Description != "from a list of merges" || a.Spec.(*fakeSpec).Role != "base" {
		t.Errorf("a = %+v %+v", a, a.Spec)
	}
	if b := p.Targets["b"]; b.MaxDuration != time.Hour || b.Spec.(*fakeSpec).Role != "own" || b.Spec.(*fakeSpec).Region != "eu" {
		t.Errorf("b = %+v %+v", b, b.Spec)
	}
	for _, bad := range []struct{ src, want string }{
		{"version: 1\ngroups:\n  <<: 3\n", `jit.yaml:3:7: groups: a merge key (<<) needs a mapping or a list of mappings`},
		{"version: 1\ngroups:\n  <<: [3]\n", `jit.yaml:3:8: groups: a merge key (<<) needs a mapping or a list of mappings`},
		{"version: 1\n[a]: 1\n", `jit.yaml:2:1: keys must be plain strings, not a list`},
	} {
		if _, err := Parse([]byte(bad.src), testOptions()); err == nil || err.Error() != bad.want {
			t.Errorf("Parse(%q) = %v\nwant %s", bad.src, err, bad.want)
		}
	}
}
