package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/jitaccess/jit/providers"
)

const (
	// defaultMaxDuration applies to a target without max_duration.
	defaultMaxDuration = time.Hour
	// groupPrefix marks a subject that names a group.
	groupPrefix = "group:"
)

// Parse parses and validates a policy. On failure the error is an *Errors
// listing every problem with its file, line and column.
func Parse(data []byte, opts Options) (*Policy, error) {
	c := &collector{file: opts.File}
	root := parseDocument(c, data)
	if root == nil {
		return nil, c.err()
	}
	p := &Policy{File: opts.File, Groups: map[string][]string{}, Targets: map[string]*Target{},
		regexps: map[string]*regexp.Regexp{}, conditions: map[string]*condition{}}
	top, ok := fields(c, root, "", "version", "groups", "targets", "rules", "identity", "audit")
	if !ok {
		return nil, c.err()
	}
	if v, ok := top["version"]; !ok {
		c.at(root, "version is required: add \"version: 1\"")
	} else if n, ok := integer(c, v.v, "", "version"); ok {
		if n != 1 {
			c.at(v.v, fmt.Sprintf("unsupported version %d: only version 1 is supported", n))
		}
		p.Version = n
	}
	if g, ok := top["groups"]; ok {
		p.parseGroups(c, g.v)
	}
	if t, ok := top["targets"]; ok {
		p.parseTargets(c, t.v, opts.Providers)
	}
	if r, ok := top["rules"]; ok {
		p.parseRules(c, r.v)
	}
	if id, ok := top["identity"]; ok {
		p.parseIdentity(c, id.v)
	}
	if a, ok := top["audit"]; ok {
		if f, ok := fields(c, a.v, "audit: ", "sinks"); ok {
			if s, ok := f["sinks"]; ok {
				p.Sinks = decodeSinks(c, s.v, "")
			}
		}
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	p.regexps, p.conditions = nil, nil
	p.buildIndex()
	return p, nil
}

func (p *Policy) parseGroups(c *collector, n *yaml.Node) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		c.at(n, "groups must be a mapping of group names to lists of members, not "+kindName(n))
		return
	}
	for _, g := range pairs(c, n, "groups: ") {
		ctx := fmt.Sprintf("group %q: ", g.key)
		if g.key == "" || strings.ContainsFunc(g.key, unicode.IsSpace) {
			c.at(g.k, fmt.Sprintf("group name %q must be non-empty and without spaces", g.key))
			continue
		}
		members, nodes, _ := stringList(c, g.v, ctx, "members")
		for i, m := range members {
			switch {
			case m == "":
				c.at(nodes[i], ctx+"empty member")
			case strings.HasPrefix(m, groupPrefix):
				c.at(nodes[i], fmt.Sprintf("%smember %q: groups cannot contain groups; list the members", ctx, m))
			case isGlob(m) && !validGlob(m):
				c.at(nodes[i], fmt.Sprintf("%sbad member pattern %q: syntax error in pattern", ctx, m))
			}
		}
		p.Groups[g.key] = members
	}
}

var targetKeys = []string{"description", "provider", "max_duration", "default_duration"}

func (p *Policy) parseTargets(c *collector, n *yaml.Node, specs map[string]providers.Spec) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		c.at(n, "targets must be a mapping of target names to settings, not "+kindName(n))
		return
	}
	for _, e := range pairs(c, n, "targets: ") {
		if t := parseTarget(c, e, specs); t != nil {
			p.Targets[t.Name] = t
			p.names = append(p.names, t.Name)
		}
	}
	slices.Sort(p.names)
}

func parseTarget(c *collector, e pair, specs map[string]providers.Spec) *Target {
	name := e.key
	switch {
	case strings.TrimSpace(name) == "":
		c.at(e.k, "target name must not be empty")
		return nil
	case isGlob(name):
		c.at(e.k, fmt.Sprintf("target name %q must not contain *, ?, [ or \\ (rules use them as patterns)", name))
		return nil
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		c.at(e.k, fmt.Sprintf("target name %q must not contain spaces or control characters", name))
		return nil
	}
	ctx := fmt.Sprintf("target %q: ", name)
	// A target with problems is still returned, so that rules naming it
	// are not also reported as naming a target that does not exist; the
	// policy is rejected anyway.
	t := &Target{Name: name, Line: e.k.Line, MaxDuration: defaultMaxDuration, DefaultDuration: defaultMaxDuration}
	n := resolve(e.v)
	if n.Kind != yaml.MappingNode {
		c.at(n, ctx+"expected a mapping with provider and its settings, not "+kindName(n))
		return t
	}
	entries := pairs(c, n, ctx)
	byKey := map[string]pair{}
	for _, kv := range entries {
		byKey[kv.key] = kv
	}
	known := slices.Clone(targetKeys)
	prov, hasProv := byKey["provider"]
	var spec providers.Spec
	specOK := false
	if !hasProv {
		c.at(n, ctx+"provider is required (known: "+sortedList(keysOf(specs))+")")
	} else if t.Provider, _ = scalar(c, prov.v, ctx, "provider"); t.Provider != "" {
		if spec, specOK = specs[t.Provider]; !specOK {
			c.at(prov.v, fmt.Sprintf("%sunknown provider %q (known: %s)", ctx, t.Provider, sortedList(keysOf(specs))))
		} else {
			known = append(known, t.Provider)
		}
	} else {
		c.at(prov.v, ctx+"provider is empty (known: "+sortedList(keysOf(specs))+")")
	}
	for _, kv := range entries {
		switch {
		case slices.Contains(known, kv.key):
		case kv.key == "provider":
		case hasSpec(specs, kv.key):
			if t.Provider != "" {
				c.at(kv.k, fmt.Sprintf("%ssection %q is for provider %s, but the target's provider is %s", ctx, kv.key, kv.key, t.Provider))
			}
		default:
			c.at(kv.k, fmt.Sprintf("%sunknown key %q (known: %s)", ctx, kv.key, sortedList(known)))
		}
	}
	if d, ok := byKey["description"]; ok {
		t.Description, _ = scalar(c, d.v, ctx, "description")
	}
	if specOK {
		if sec, ok := byKey[t.Provider]; ok {
			t.Spec = decodeTargetSpec(c, spec, sec, ctx)
		} else {
			c.at(n, fmt.Sprintf("%smissing the %q section with the %s provider's settings", ctx, t.Provider, t.Provider))
		}
	}
	maxSet, defSet := false, false
	if m, ok := byKey["max_duration"]; ok {
		t.MaxDuration, maxSet = positiveDuration(c, m.v, ctx, "max_duration")
	}
	if d, ok := byKey["default_duration"]; ok {
		t.DefaultDuration, defSet = positiveDuration(c, d.v, ctx, "default_duration")
	}
	if !maxSet {
		t.MaxDuration = defaultMaxDuration
	}
	if !defSet {
		t.DefaultDuration = min(defaultMaxDuration, t.MaxDuration)
	} else if t.DefaultDuration > t.MaxDuration {
		c.at(byKey["default_duration"].v, fmt.Sprintf("%sdefault_duration %s is above max_duration %s", ctx, FormatDuration(t.DefaultDuration), FormatDuration(t.MaxDuration)))
	}
	return t
}

func hasSpec(specs map[string]providers.Spec, name string) bool {
	_, ok := specs[name]
	return ok
}

var ruleKeys = []string{"name", "description", "subjects", "targets", "max_duration", "require", "when"}

func (p *Policy) parseRules(c *collector, n *yaml.Node) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		c.at(n, "rules must be a list, not "+kindName(n))
		return
	}
	seen := map[string]int{}
	for i, item := range n.Content {
		item = resolve(item)
		r := p.parseRule(c, item, i)
		if r == nil {
			continue
		}
		if first, dup := seen[r.Name]; dup {
			c.at(item, fmt.Sprintf("duplicate rule name %q (first defined at line %d)", r.Name, first))
			continue
		}
		seen[r.Name] = r.Line
		p.Rules = append(p.Rules, r)
	}
}

// parseRule returns nil when the rule has problems (they are reported), so
// that a broken rule never reaches the index.
func (p *Policy) parseRule(c *collector, n *yaml.Node, i int) *Rule {
	ctx := fmt.Sprintf("rule #%d: ", i+1)
	if n.Kind != yaml.MappingNode {
		c.at(n, ctx+"expected a mapping with name, subjects and targets, not "+kindName(n))
		return nil
	}
	errs := len(c.errs)
	// The name comes first so that every other message can use it.
	r := &Rule{Line: n.Line}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := resolve(n.Content[i]), resolve(n.Content[i+1]); k.Value == "name" && v.Kind == yaml.ScalarNode && strings.TrimSpace(v.Value) != "" {
			ctx = fmt.Sprintf("rule %q: ", v.Value)
		}
	}
	f, _ := fields(c, n, ctx, ruleKeys...)
	if nm, ok := f["name"]; !ok {
		c.at(n, ctx+"name is required")
	} else if r.Name, _ = scalar(c, nm.v, ctx, "name"); strings.TrimSpace(r.Name) == "" {
		c.at(nm.v, ctx+"name must not be empty")
	}
	if d, ok := f["description"]; ok {
		r.Description, _ = scalar(c, d.v, ctx, "description")
	}
	if s, ok := f["subjects"]; !ok {
		c.at(n, ctx+"subjects is required: list ids, globs or group:NAME")
	} else {
		p.parseSubjects(c, r, s.v, ctx)
	}
	if t, ok := f["targets"]; !ok {
		c.at(n, ctx+"targets is required: list target names or globs")
	} else {
		p.parseRuleTargets(c, r, t.v, ctx)
	}
	if m, ok := f["max_duration"]; ok {
		r.MaxDuration, _ = positiveDuration(c, m.v, ctx, "max_duration")
	}
	if rq, ok := f["require"]; ok {
		p.parseRequire(c, r, rq.v, ctx)
	}
	if w, ok := f["when"]; ok {
		if expr, ok := scalar(c, w.v, ctx, "when"); ok {
			r.When = expr
			if cond, ok := p.conditions[expr]; ok {
				r.when = cond
			} else if r.when = compileWhen(c, resolve(w.v), expr, ctx); r.when != nil {
				p.conditions[expr] = r.when
			}
		}
	}
	if len(c.errs) != errs {
		return nil
	}
	return r
}

func (p *Policy) parseSubjects(c *collector, r *Rule, n *yaml.Node, ctx string) {
	subjects, nodes, ok := stringList(c, n, ctx, "subjects")
	if ok && len(subjects) == 0 {
		c.at(n, ctx+"subjects must not be empty: list ids, globs or group:NAME")
		return
	}
	r.Subjects = subjects
	for i, s := range subjects {
		switch {
		case strings.TrimSpace(s) == "":
			c.at(nodes[i], ctx+"empty subject")
		case strings.HasPrefix(s, groupPrefix):
			g := strings.TrimPrefix(s, groupPrefix)
			if _, ok := p.Groups[g]; !ok {
				c.at(nodes[i], fmt.Sprintf("%ssubject %q: group %q is not defined (known: %s)", ctx, s, g, knownList(keysOf(p.Groups))))
				continue
			}
			r.subjGroups = appendNew(r.subjGroups, g)
		case isGlob(s):
			if !validGlob(s) {
				c.at(nodes[i], fmt.Sprintf("%sbad subject pattern %q: syntax error in pattern", ctx, s))
				continue
			}
			r.subjGlobs = append(r.subjGlobs, newGlob(s))
		default:
			r.subjExact = appendNew(r.subjExact, s)
		}
	}
}

func (p *Policy) parseRuleTargets(c *collector, r *Rule, n *yaml.Node, ctx string) {
	targets, nodes, ok := stringList(c, n, ctx, "targets")
	if ok && len(targets) == 0 {
		c.at(n, ctx+"targets must not be empty: list target names or globs")
		return
	}
	r.Targets = targets
	for i, t := range targets {
		switch {
		case strings.TrimSpace(t) == "":
			c.at(nodes[i], ctx+"empty target")
		case isGlob(t):
			if !validGlob(t) {
				c.at(nodes[i], fmt.Sprintf("%sbad target pattern %q: syntax error in pattern", ctx, t))
				continue
			}
			g := newGlob(t)
			if !slices.ContainsFunc(p.names, g.match) {
				c.at(nodes[i], fmt.Sprintf("%starget pattern %q matches no target (known: %s)", ctx, t, knownList(p.names)))
				continue
			}
			r.tgtGlobs = append(r.tgtGlobs, g)
		default:
			if _, ok := p.Targets[t]; !ok {
				c.at(nodes[i], fmt.Sprintf("%starget %q does not exist (known: %s)", ctx, t, knownList(p.names)))
				continue
			}
			r.tgtExact = appendNew(r.tgtExact, t)
		}
	}
}

func (p *Policy) parseRequire(c *collector, r *Rule, n *yaml.Node, ctx string) {
	f, ok := fields(c, n, ctx+"require: ", "reason", "ticket", "approvals")
	if !ok {
		return
	}
	if v, ok := f["reason"]; ok {
		r.Require.Reason, _ = boolean(c, v.v, ctx, "require.reason")
	}
	if v, ok := f["ticket"]; ok {
		tn := resolve(v.v)
		switch {
		case isNull(tn):
		case tn.Kind == yaml.ScalarNode && tn.Tag == "!!bool":
			if b, _ := boolean(c, tn, ctx, "require.ticket"); b {
				r.Require.Ticket = ticketAny
			}
		default:
			pat, ok := scalar(c, tn, ctx, "require.ticket")
			if !ok {
				break
			}
			if pat == "" {
				c.at(tn, ctx+"require.ticket is empty: give a regular expression such as '^CHG-[0-9]+$', or true for any ticket")
				break
			}
			if pat == ticketAny {
				// A quoted 'true' is read as the boolean: a regular
				// expression matching "true" anywhere makes no sense.
				r.Require.Ticket = ticketAny
				break
			}
			re, ok := p.regexps[pat]
			if !ok {
				var err error
				if re, err = regexp.Compile(pat); err != nil {
					c.at(tn, fmt.Sprintf("%srequire.ticket: bad regular expression %q: %s", ctx, pat, strings.TrimPrefix(err.Error(), "error parsing regexp: ")))
					break
				}
				p.regexps[pat] = re
			}
			r.Require.Ticket, r.ticket = pat, re
		}
	}
	if v, ok := f["approvals"]; ok {
		if a, ok := integer(c, v.v, ctx, "require.approvals"); ok {
			if a < 0 {
				c.at(v.v, ctx+"require.approvals must be 0 or more")
			}
			r.Require.Approvals = a
		}
	}
}

func (p *Policy) parseIdentity(c *collector, n *yaml.Node) {
	f, ok := fields(c, n, "identity: ", "issuers")
	if !ok {
		return
	}
	is, ok := f["issuers"]
	if !ok || isNull(is.v) {
		return
	}
	list := resolve(is.v)
	if list.Kind != yaml.SequenceNode {
		c.at(list, "identity: issuers must be a list, not "+kindName(list))
		return
	}
	seen := map[string]int{}
	for i, item := range list.Content {
		item = resolve(item)
		ctx := fmt.Sprintf("issuer #%d: ", i+1)
		f, ok := fields(c, item, ctx, "name", "url", "audience")
		if !ok {
			continue
		}
		is := Issuer{Line: item.Line}
		if v, ok := f["name"]; ok {
			is.Name, _ = scalar(c, v.v, ctx, "name")
		}
		if is.Name == "" {
			c.at(item, ctx+"name is required")
		} else {
			ctx = fmt.Sprintf("issuer %q: ", is.Name)
			if first, dup := seen[is.Name]; dup {
				c.at(f["name"].v, fmt.Sprintf("duplicate issuer name %q (first defined at line %d)", is.Name, first))
			}
			seen[is.Name] = item.Line
		}
		if v, ok := f["url"]; ok {
			is.URL, _ = scalar(c, v.v, ctx, "url")
		}
		switch {
		case is.URL == "":
			c.at(item, ctx+"url is required")
		case !strings.HasPrefix(is.URL, "https://") && !isLoopbackURL(is.URL):
			c.at(f["url"].v, fmt.Sprintf("%surl %q must start with https:// (plain http only on loopback)", ctx, is.URL))
		}
		if v, ok := f["audience"]; ok {
			is.Audience, _ = scalar(c, v.v, ctx, "audience")
		}
		p.Issuers = append(p.Issuers, is)
	}
}

// isLoopbackURL allows plain http for issuers on this machine, which the
// offline sandbox and tests use.
func isLoopbackURL(u string) bool {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return false
	}
	for _, h := range []string{"127.0.0.1", "[::1]", "localhost"} {
		if rest == h || strings.HasPrefix(rest, h+":") || strings.HasPrefix(rest, h+"/") {
			return true
		}
	}
	return false
}

func appendNew(l []string, s string) []string {
	if slices.Contains(l, s) {
		return l
	}
	return append(l, s)
}
