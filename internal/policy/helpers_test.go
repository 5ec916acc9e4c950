package policy

import (
	"errors"
	"testing"
	"time"

	"github.com/jitaccess/jit/providers"
)

// fakeSpec is a provider's target settings for tests: role is required.
type fakeSpec struct {
	Role   string            `yaml:"role"`
	Region string            `yaml:"region,omitempty"`
	Tags   map[string]string `yaml:"tags,omitempty"`
	Nested *struct {
		Depth int `yaml:"depth"`
	} `yaml:"nested,omitempty"`
	Session time.Duration `yaml:"session,omitempty"`
}

func (s *fakeSpec) Validate() error {
	if s.Role == "" {
		return errors.New("role is required")
	}
	return nil
}

// otherSpec is a second provider so that sections for the wrong provider
// can be tested.
type otherSpec struct {
	Project string `yaml:"project"`
}

func (s *otherSpec) Validate() error { return nil }

func testSpecs() map[string]providers.Spec {
	return map[string]providers.Spec{
		"fake":  {Name: "fake", NewTargetSpec: func() providers.TargetSpec { return &fakeSpec{} }},
		"other": {Name: "other", NewTargetSpec: func() providers.TargetSpec { return &otherSpec{} }},
	}
}

func testOptions() Options { return Options{File: "jit.yaml", Providers: testSpecs()} }

// mustParse parses a policy that the test needs to be valid.
func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := Parse([]byte(src), testOptions())
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	return p
}
