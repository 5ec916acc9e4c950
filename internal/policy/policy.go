package policy

import (
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/jitaccess/jit/providers"
)

// Options configure Parse.
type Options struct {
	// File names the policy file in messages, e.g. "jit.yaml".
	File string
	// Providers are the provider specs by name; a target's provider must be
	// one of them and its settings section is decoded with the spec.
	Providers map[string]providers.Spec
}

// Policy is a parsed and validated policy. It is immutable and safe for
// concurrent use.
type Policy struct {
	// File is Options.File.
	File    string
	Version int
	// Groups maps a group name to its members (ids or globs).
	Groups map[string][]string
	// Targets are the targets by name.
	Targets map[string]*Target
	// Rules are in file order; the first allowing rule decides.
	Rules   []*Rule
	Issuers []Issuer
	Sinks   []SinkConfig

	names []string // target names, sorted
	idx   index

	// Compiled once per Parse: rules often share a ticket pattern or a
	// condition. Dropped when parsing ends.
	regexps    map[string]*regexp.Regexp
	conditions map[string]*condition
}

// Target is one entry of the policy's targets.
type Target struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Provider    string `json:"provider"`
	// Spec is the provider's decoded and validated settings.
	Spec providers.TargetSpec `json:"-"`
	// MaxDuration is the longest grant for this target (default 1h).
	MaxDuration time.Duration `json:"-"`
	// DefaultDuration is granted when no duration is asked for (default
	// the smaller of 1h and MaxDuration).
	DefaultDuration time.Duration `json:"-"`
	Line            int           `json:"line"`
}

// ProviderTarget is the target as its provider sees it.
func (t *Target) ProviderTarget() providers.Target {
	return providers.Target{Name: t.Name, Provider: t.Provider, Spec: t.Spec}
}

// Rule is one entry of the policy's rules.
type Rule struct {
	Name        string
	Description string
	// Subjects are exact ids, globs over the principal's id and aliases,
	// or group:NAME.
	Subjects []string
	// Targets are target names or globs over them.
	Targets []string
	// MaxDuration caps grants under this rule; 0 means only the target's
	// own maximum applies.
	MaxDuration time.Duration
	Require     Require
	// When is an optional CEL condition; empty means always.
	When string
	Line int

	subjExact  []string
	subjGroups []string
	subjGlobs  []glob
	tgtExact   []string
	tgtGlobs   []glob
	ticket     *regexp.Regexp
	when       *condition
}

// Require lists what a request must carry for a rule to allow it.
type Require struct {
	// Reason requires a non-blank reason.
	Reason bool
	// Ticket, when set, requires a non-blank ticket: "true" accepts any,
	// anything else is a regular expression the ticket must match as
	// written (anchor it with ^ and $ to match the whole ticket).
	Ticket string
	// Approvals is how many approvals the request needs; above zero the
	// decision is "needs approval" until they are given.
	Approvals int
}

// ticketAny is the Ticket value of "ticket: true".
const ticketAny = "true"

// TicketPattern returns the regular expression a ticket must match, or ""
// when any non-blank ticket will do or none is required.
func (q Require) TicketPattern() string {
	if q.Ticket == ticketAny {
		return ""
	}
	return q.Ticket
}

// Issuer is an OIDC issuer whose tokens jit accepts (CI jobs).
type Issuer struct {
	Name     string `yaml:"name" json:"name"`
	URL      string `yaml:"url" json:"url"`
	Audience string `yaml:"audience,omitempty" json:"audience,omitempty"`
	Line     int    `yaml:"-" json:"-"`
}

// TargetNames returns the target names, sorted.
func (p *Policy) TargetNames() []string { return slices.Clone(p.names) }

// index holds the lookups built at Parse so that a decision touches only
// the rules that can concern the requested target or the principal, never
// all of them.
type index struct {
	// byTarget maps a target name to the rules naming it exactly.
	byTarget map[string][]int32
	// targetGlobs are the rules' target patterns.
	targetGlobs globIndex
	// bySubject maps an exact subject to the rules naming it.
	bySubject map[string][]int32
	// byGroup maps a group to the rules naming group:NAME.
	byGroup map[string][]int32
	// subjectGlobs are the rules' subject patterns.
	subjectGlobs globIndex
	// groupNames are the groups, sorted; group ids index it.
	groupNames []string
	// groupsByMember maps an exact member to its groups' ids.
	groupsByMember map[string][]int32
	// memberGlobs are the groups' glob members.
	memberGlobs globIndex
}

func (p *Policy) buildIndex() {
	x := &p.idx
	x.byTarget, x.bySubject, x.byGroup = map[string][]int32{}, map[string][]int32{}, map[string][]int32{}
	add := func(m map[string][]int32, key string, id int32) {
		if l := m[key]; len(l) == 0 || l[len(l)-1] != id {
			m[key] = append(l, id)
		}
	}
	for i, r := range p.Rules {
		id := int32(i)
		for _, t := range r.tgtExact {
			add(x.byTarget, t, id)
		}
		for _, g := range r.tgtGlobs {
			x.targetGlobs.add(g.pat, id)
		}
		for _, s := range r.subjExact {
			add(x.bySubject, s, id)
		}
		for _, g := range r.subjGroups {
			add(x.byGroup, g, id)
		}
		for _, g := range r.subjGlobs {
			x.subjectGlobs.add(g.pat, id)
		}
	}
	x.groupNames = keysOf(p.Groups)
	sort.Strings(x.groupNames)
	x.groupsByMember = map[string][]int32{}
	for gi, g := range x.groupNames {
		for _, m := range p.Groups[g] {
			if isGlob(m) {
				x.memberGlobs.add(m, int32(gi))
			} else {
				add(x.groupsByMember, m, int32(gi))
			}
		}
	}
}

// targetRules returns the lists of rules whose targets may match the
// target name, and their total length.
func (p *Policy) targetRules(target string) ([][]int32, int) {
	var lists [][]int32
	n := 0
	if l := p.idx.byTarget[target]; len(l) > 0 {
		lists, n = append(lists, l), len(l)
	}
	p.idx.targetGlobs.match(target, func(ids []int32) {
		lists, n = append(lists, ids), n+len(ids)
	})
	return lists, n
}

// subjectRules returns the rules whose subjects may match the principal's
// names or groups, ascending and without repeats.
func (p *Policy) subjectRules(names, groups []string) []int32 {
	var lists [][]int32
	for _, n := range names {
		if l := p.idx.bySubject[n]; len(l) > 0 {
			lists = append(lists, l)
		}
		if n != "" {
			p.idx.subjectGlobs.match(n, func(ids []int32) { lists = append(lists, ids) })
		}
	}
	for _, g := range groups {
		if l := p.idx.byGroup[g]; len(l) > 0 {
			lists = append(lists, l)
		}
	}
	return mergeIDs(lists)
}

// mergeIDs merges ascending lists into one ascending list without repeats.
// A single list is returned as is (callers only read it).
func mergeIDs(lists [][]int32) []int32 {
	switch len(lists) {
	case 0:
		return nil
	case 1:
		return lists[0]
	}
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]int32, 0, n)
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
