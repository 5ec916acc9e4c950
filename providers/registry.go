package providers

import (
	"fmt"
	"sort"
)

// Constructor builds a provider on first use; it is where SDK configuration
// is loaded, so commands that never grant never pay for it.
type Constructor func() (Provider, error)

type entry struct {
	spec Spec
	new  Constructor
	p    Provider
	err  error
	done bool
}

// Registry maps provider names to their specs and lazily built providers. It
// is built explicitly by one function (see providers/all); Register panics on
// a duplicate name because that is a programming error.
type Registry struct {
	entries map[string]*entry
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{entries: map[string]*entry{}} }

// Register adds a provider's spec and constructor.
func (r *Registry) Register(s Spec, c Constructor) {
	if _, dup := r.entries[s.Name]; dup {
		panic("providers: duplicate registration of " + s.Name)
	}
	r.entries[s.Name] = &entry{spec: s, new: c}
}

// Specs returns the registered specs by name, for the policy loader.
func (r *Registry) Specs() map[string]Spec {
	out := make(map[string]Spec, len(r.entries))
	for n, e := range r.entries {
		out[n] = e.spec
	}
	return out
}

// Names returns the registered provider names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.entries))
	for n := range r.entries {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Spec returns the spec of a provider.
func (r *Registry) Spec(name string) (Spec, bool) {
	e, ok := r.entries[name]
	if !ok {
		return Spec{}, false
	}
	return e.spec, true
}

// Get returns the provider, constructing it on first use. Not safe for
// concurrent first use; the elevation service calls it from one goroutine.
func (r *Registry) Get(name string) (Provider, error) {
	e, ok := r.entries[name]
	if !ok {
		return nil, fmt.Errorf("unknown provider %q (known: %v)", name, r.Names())
	}
	if !e.done {
		e.p, e.err = e.new()
		e.done = true
	}
	return e.p, e.err
}

// PrincipalFromID returns the principal an id stands for, as the first
// provider that recognises it would report it, or just the id.
func (r *Registry) PrincipalFromID(id string) Principal {
	for _, n := range r.Names() {
		if f := r.entries[n].spec.Principal; f != nil {
			if pr, ok := f(id); ok {
				return pr
			}
		}
	}
	return Principal{ID: id}
}
