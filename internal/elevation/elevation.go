// Package elevation is jit's one use case: from a request to time-bound
// access, journaling every step before the next runs.
//
//	request ─▶ identity ─▶ policy (git @ commit) ─▶ decision ─▶ provider.Grant ─▶ delivery ─▶ session end
//
// Commands only parse flags, call the Service and render the result; the
// Service never touches the terminal (questions go through Request.Ask), so
// the same code can run inside an approval server.
package elevation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/audit/ship"
	"github.com/jitaccess/jit/internal/grants"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/internal/policysource"
	"github.com/jitaccess/jit/providers"
)

// Journal is the durable local audit journal.
type Journal interface {
	Append(events ...*audit.Event) error
}

// Limiter is implemented by providers with their own cap on durations that
// depends on the caller (AWS role chaining: 1h).
type Limiter interface {
	MaxDuration(ctx context.Context, t providers.Target, p providers.Principal) (time.Duration, string)
}

// Service runs elevations. Its fields are its dependencies; zero values are
// not valid except where noted.
type Service struct {
	Source    policysource.Source
	Providers *providers.Registry
	Journal   Journal
	// Sinks builds the shipper of the journal to the audit sinks of the
	// given configurations (the policy's, then the user's); nil, or no
	// configurations, ships nothing and costs no I/O.
	Sinks func(cfgs []policy.SinkConfig) (*ship.Shipper, error)
	// UserSinks are the sinks of the user's configuration.
	UserSinks []policy.SinkConfig
	// ShipWait bounds how long Close waits for deliveries to sinks that are
	// still in progress (DefaultShipWait when 0); what is left waits in the
	// journal for the next run or `jit audit flush`.
	ShipWait time.Duration
	Now      func() time.Time // default time.Now
	Host     string
	Version  string
	// Warn reports something the user should know but that does not stop
	// the elevation (stale policy, a sink that failed). May be nil.
	Warn func(string)
	// Grants keeps the local record of grants for status, revoke and
	// expiry; nil keeps none.
	Grants *grants.Store
	// Debugf traces each step for --debug. It is never given a secret:
	// only ids, names, decisions and the grant's redacted references.
	Debugf func(format string, args ...any)

	loaded *loaded
	ship   *shipping
}

type loaded struct {
	pol  *policy.Policy
	snap *policysource.Snapshot
}

// Ask asks the user for a missing value. field is "reason" or "ticket";
// hint explains the requirement (e.g. the ticket pattern). validate checks
// the answer.
type Ask func(ctx context.Context, field, hint string, validate func(string) error) (string, error)

// Request is what the caller asks for.
type Request struct {
	Target   string
	Duration time.Duration // 0: the target's default
	Reason   string
	Ticket   string
	DryRun   bool
	// Session, when set, is the command that will run with the grant; a
	// session_start event is journaled together with the grant.
	Session []string
	// Ask fills in missing values; nil means no one can be asked.
	Ask Ask
}

// Result is an elevation that was allowed (and, unless DryRun, granted).
type Result struct {
	RequestID string
	Principal providers.Principal
	Decision  policy.Decision
	Target    *policy.Target
	Policy    audit.PolicyRef
	Grant     *providers.Grant // nil on a dry run
	// RevokeNote says what revoking would do for this provider.
	RevokeNote string
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) debugf(format string, args ...any) {
	if s.Debugf != nil {
		s.Debugf(format, args...)
	}
}

func (s *Service) warn(msg string) {
	if s.Warn != nil {
		s.Warn(msg)
	}
}

// Policy loads and parses the policy once per Service (per process), at the
// commit the source pins.
func (s *Service) Policy(ctx context.Context) (*policy.Policy, *policysource.Snapshot, error) {
	if s.loaded != nil {
		return s.loaded.pol, s.loaded.snap, nil
	}
	snap, err := s.Source.Load(ctx)
	if err != nil {
		return nil, nil, &PolicyError{Err: err}
	}
	pol, err := policy.Parse(snap.Data, policy.Options{File: snap.File, Providers: s.Providers.Specs()})
	if err != nil {
		return nil, nil, &PolicyError{Err: fmt.Errorf("policy at commit %s: %w", short(snap.Commit), err)}
	}
	s.loaded = &loaded{pol: pol, snap: snap}
	s.debugf("policy: %s at commit %s (repo %s, ref %s, signer %q, stale %v): %d targets, %d rules",
		snap.File, snap.Commit, snap.Repo, snap.Ref, snap.Signer, snap.Stale, len(pol.Targets), len(pol.Rules))
	return pol, snap, nil
}

// WhoAmI resolves the caller through a provider's view of the base
// credentials, with the groups the policy gives them when pol is not nil.
func (s *Service) WhoAmI(ctx context.Context, providerName string, pol *policy.Policy) (providers.Principal, error) {
	p, err := s.Providers.Get(providerName)
	if err != nil {
		return providers.Principal{}, err
	}
	w, ok := p.(providers.WhoAmIer)
	if !ok {
		return providers.Principal{}, fmt.Errorf("provider %s cannot tell who the caller is", providerName)
	}
	pr, err := w.WhoAmI(ctx)
	if err != nil {
		return providers.Principal{}, err
	}
	if pol != nil {
		pr.Groups = pol.GroupsOf(pr)
	}
	s.debugf("identity: %s (source %s, aliases %v, groups %v)", pr.ID, pr.Source, pr.Aliases, pr.Groups)
	return pr, nil
}

// Elevate decides and, when allowed, grants. Every decision is journaled
// (and synced) before it takes effect: a denial before it is returned, a
// grant before its credentials are returned. If the journal cannot be
// written, nothing is granted.
func (s *Service) Elevate(ctx context.Context, req Request) (*Result, error) {
	for _, f := range []struct{ name, v string }{{"reason", req.Reason}, {"ticket", req.Ticket}} {
		if err := CheckText(f.name, f.v); err != nil {
			return nil, err
		}
	}
	pol, snap, err := s.Policy(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Sweep(ctx); err != nil {
		return nil, err
	}
	ref := audit.PolicyRef{Repo: snap.Repo, Ref: snap.Ref, Commit: snap.Commit, File: snap.File}
	id := audit.NewID(s.now())
	res := &Result{RequestID: id, Policy: ref}

	tgt, ok := pol.Targets[req.Target]
	providerName := ""
	if ok {
		providerName = tgt.Provider
	} else if names := s.Providers.Names(); len(names) == 1 {
		// An unknown target is still a request worth recording; the only
		// provider tells us who asked.
		providerName = names[0]
	}
	var prov providers.Provider
	if providerName != "" {
		if prov, err = s.Providers.Get(providerName); err != nil {
			return nil, err
		}
		if res.Principal, err = s.WhoAmI(ctx, providerName, pol); err != nil {
			return nil, err
		}
	}
	res.Target = tgt
	if spec, ok := s.Providers.Spec(providerName); ok {
		res.RevokeNote = spec.RevokeNote
	}

	in := policy.Input{
		Principal: res.Principal, Target: req.Target, Duration: req.Duration,
		Reason: req.Reason, Ticket: req.Ticket, Time: s.now(),
	}
	if lim, ok := prov.(Limiter); ok && tgt != nil {
		in.Limit, in.LimitReason = lim.MaxDuration(ctx, tgt.ProviderTarget(), res.Principal)
	}
	dec := pol.Evaluate(in)
	if !dec.Allowed && len(dec.Missing) > 0 && !slices.Contains(dec.Missing, "approval") {
		if req.Ask == nil {
			return nil, &MissingInputError{Target: req.Target, Fields: dec.Missing, Rule: dec.Rule}
		}
		for _, f := range dec.Missing {
			v, err := req.Ask(ctx, f, requirementHint(pol, dec.Rule, f), validator(pol, dec.Rule, f))
			if err != nil {
				return nil, err
			}
			switch f {
			case "reason":
				in.Reason, req.Reason = v, v
			case "ticket":
				in.Ticket, req.Ticket = v, v
			}
		}
		dec = pol.Evaluate(in)
	}
	res.Decision = dec
	s.debugf("decision: request %s target %s duration %s: allowed=%v rule=%q max=%s reasons=%q",
		id, req.Target, dec.Duration, dec.Allowed, dec.Rule, dec.MaxDuration, dec.Reasons)

	base := s.event(audit.EventRequest, id, res, req)
	base.Decision = decisionOf(dec)
	if req.DryRun {
		if !dec.Allowed {
			return res, &DeniedError{Target: req.Target, Principal: res.Principal.ID, Decision: dec}
		}
		return res, nil
	}
	if !dec.Allowed {
		deny := s.event(audit.EventDeny, id, res, req)
		deny.Decision = decisionOf(dec)
		if err := s.append(ctx, pol, base, deny); err != nil {
			return nil, err
		}
		return nil, &DeniedError{Target: req.Target, Principal: res.Principal.ID, Decision: dec}
	}
	if err := s.append(ctx, pol, base); err != nil {
		return nil, err
	}
	if err := s.require(ctx, pol, audit.EventRequest, base.Seq); err != nil {
		// Nothing was asked of the cloud: the refusal is all there is to
		// record.
		ev := s.event(audit.EventError, id, res, req)
		ev.Error = oneLine(err.Error())
		if jerr := s.append(ctx, pol, ev); jerr != nil {
			s.warn(jerr.Error())
		}
		return nil, err
	}

	g, err := prov.Grant(ctx, providers.Request{
		ID: id, Target: tgt.ProviderTarget(), Principal: res.Principal,
		Duration: dec.Duration, Reason: req.Reason, Ticket: req.Ticket,
	})
	if err != nil {
		ev := s.event(audit.EventError, id, res, req)
		ev.Error = oneLine(err.Error())
		var pe *providers.Error
		if errors.As(err, &pe) && pe.Kind == providers.KindPending {
			// Not granted yet: the cloud holds the request for approval.
			// Record where it is, so that status shows it and revoke can
			// withdraw it.
			ev.Error = "pending approval: " + oneLine(pe.Hint)
			ev.Grant = pe.Refs
			s.record(&grants.Record{State: grants.StatePending, Refs: pe.Refs, Revocable: true}, res, req)
		}
		if jerr := s.append(ctx, pol, ev); jerr != nil {
			s.warn(jerr.Error())
		}
		return nil, err
	}
	res.Grant = g
	s.debugf("grant: %s until %s, refs %v, variables %v", g.Target, g.NotAfter.UTC().Format(time.RFC3339), g.Redacted().Refs, g.Redacted().EnvNames)
	ge := s.event(audit.EventGrant, id, res, req)
	ge.Decision = decisionOf(dec)
	exp := g.NotAfter.UTC()
	ge.ExpiresAt = &exp
	ge.Grant = g.Redacted().Refs
	events := []*audit.Event{ge}
	if req.Session != nil {
		ss := s.event(audit.EventSessionStart, id, res, req)
		ss.Session = &audit.Session{Command: req.Session}
		events = append(events, ss)
	}
	if err := s.append(ctx, pol, events...); err != nil {
		// The cloud granted, but the grant is not on record: withhold the
		// credentials. Revoke where the provider can.
		if r, ok := prov.(providers.Revoker); ok {
			if rerr := r.Revoke(context.WithoutCancel(ctx), g); rerr != nil {
				s.warn(fmt.Sprintf("the grant could not be revoked after the journal failed: %v", rerr))
			}
		}
		return nil, err
	}
	rec := &grants.Record{State: grants.StateActive, NotBefore: g.NotBefore, NotAfter: g.NotAfter,
		Refs: g.Redacted().Refs, Revocable: g.Revocable, RevokeNote: g.RevokeNote}
	if err := s.require(ctx, pol, audit.EventGrant, events[len(events)-1].Seq); err != nil {
		return nil, s.withhold(ctx, pol, prov, g, rec, res, req, err)
	}
	if req.Session != nil {
		rec.SessionPID, rec.SessionCmd = os.Getpid(), req.Session
	}
	s.record(rec, res, req)
	s.dropSuperseded(res)
	return res, nil
}

// withhold handles a grant that a required sink did not accept: the
// credentials are withheld, the grant revoked where the provider can, and
// both journaled. It returns the error to give the caller.
func (s *Service) withhold(ctx context.Context, pol *policy.Policy, prov providers.Provider, g *providers.Grant,
	rec *grants.Record, res *Result, req Request, err error) error {
	var se *SinkError
	if !errors.As(err, &se) {
		return err
	}
	until := g.NotAfter.UTC().Format(time.RFC3339)
	revoked := false
	if r, ok := prov.(providers.Revoker); ok {
		if rerr := r.Revoke(context.WithoutCancel(ctx), g); rerr != nil {
			se.Remains = fmt.Sprintf("the grant could not be revoked (%s) and stays valid in the cloud until %s", oneLine(rerr.Error()), until)
		} else {
			revoked = true
			se.Remains = "the grant was revoked"
		}
	} else {
		se.Remains = fmt.Sprintf("%s grants cannot be revoked: it stays valid in the cloud until %s", g.Provider, until)
	}
	ev := s.event(audit.EventError, res.RequestID, res, req)
	ev.Error = oneLine(se.Error())
	ev.Grant = g.Redacted().Refs
	events := []*audit.Event{ev}
	if revoked {
		rv := s.event(audit.EventRevoke, res.RequestID, res, req)
		rv.Grant = g.Redacted().Refs
		exp := g.NotAfter.UTC()
		rv.ExpiresAt = &exp
		events = append(events, rv)
	} else {
		// Still valid: keep it on record, so that status shows it and
		// its expiry is journaled.
		s.record(rec, res, req)
	}
	if jerr := s.append(ctx, pol, events...); jerr != nil {
		s.warn(jerr.Error())
	}
	return se
}

// dropSuperseded forgets requests for the same target that were awaiting
// approval: the approved activation has just been granted (the clouds hand
// back the approved one when it is asked for again).
func (s *Service) dropSuperseded(res *Result) {
	if s.Grants == nil || res.Target == nil {
		return
	}
	recs, _ := s.Grants.List()
	for _, r := range recs {
		if r.State == grants.StatePending && r.Target == res.Target.Name && r.Principal == res.Principal.ID && r.RequestID != res.RequestID {
			if err := s.Grants.Delete(r.RequestID); err != nil {
				s.warn(err.Error())
			}
		}
	}
}

// record keeps the local record of a grant. A failure does not withhold the
// credentials — the journal has the grant — but is reported.
func (s *Service) record(r *grants.Record, res *Result, req Request) {
	if s.Grants == nil {
		return
	}
	r.RequestID, r.Target, r.Reason, r.Ticket, r.Created, r.Host = res.RequestID, req.Target, req.Reason, req.Ticket, s.now().UTC(), s.Host
	if res.Target != nil {
		r.Provider = res.Target.Provider
	}
	r.Principal, r.Source, r.Groups = res.Principal.ID, res.Principal.Source, res.Principal.Groups
	r.Policy = map[string]string{"repo": res.Policy.Repo, "ref": res.Policy.Ref, "commit": res.Policy.Commit, "file": res.Policy.File}
	if err := s.Grants.Put(r); err != nil {
		s.warn(err.Error())
	}
}

// EndSession journals the end of an elevated session.
func (s *Service) EndSession(ctx context.Context, res *Result, argv []string, exitCode int, d time.Duration) error {
	pol, _, err := s.Policy(ctx)
	if err != nil {
		return err
	}
	ev := s.event(audit.EventSessionEnd, res.RequestID, res, Request{})
	code := exitCode
	ev.Session = &audit.Session{Command: argv, ExitCode: &code, DurationMS: d.Milliseconds()}
	if err := s.append(ctx, pol, ev); err != nil {
		return err
	}
	if s.Grants != nil {
		if r, err := s.Grants.Get(res.RequestID); err == nil {
			r.SessionEnded, r.SessionPID = true, 0
			if err := s.Grants.Put(r); err != nil {
				s.warn(err.Error())
			}
		}
	}
	return nil
}

func (s *Service) event(kind, id string, res *Result, req Request) *audit.Event {
	e := &audit.Event{
		Schema: audit.Schema, Time: s.now().UTC(), Event: kind, RequestID: id,
		Target: req.Target, Reason: req.Reason, Ticket: req.Ticket,
		Host: s.Host, JitVersion: s.Version,
	}
	if res.Target != nil {
		e.Target = res.Target.Name
		e.Provider = res.Target.Provider
	}
	if res.Principal.ID != "" {
		e.Principal = &audit.Principal{ID: res.Principal.ID, Source: res.Principal.Source, Groups: res.Principal.Groups}
	}
	if d := res.Decision.Duration; d > 0 {
		e.DurationS = int64(d / time.Second)
	} else if req.Duration > 0 {
		e.DurationS = int64(req.Duration / time.Second)
	}
	p := res.Policy
	e.Policy = &p
	return e
}

// append journals events, then has them shipped to the sinks in the
// background. The journal is the record: shipping never fails an append.
func (s *Service) append(ctx context.Context, pol *policy.Policy, events ...*audit.Event) error {
	if s.Debugf != nil {
		kinds := make([]string, len(events))
		for i, e := range events {
			kinds[i] = e.Event
		}
		s.debugf("journal: appending %v", kinds)
	}
	if err := s.Journal.Append(events...); err != nil {
		return &AuditError{Err: fmt.Errorf("%w; no credentials issued", err)}
	}
	s.shipping(pol).kick()
	return nil
}

// Close waits, at most ShipWait, for the deliveries in progress, reports
// the sinks that failed, and releases the sinks.
func (s *Service) Close() error {
	if s.ship == nil {
		return nil
	}
	return s.ship.close(s.shipWait(), s.warn)
}

func decisionOf(d policy.Decision) *audit.Decision {
	return &audit.Decision{Allowed: d.Allowed, Rule: d.Rule, Reasons: d.Reasons}
}

func ruleNamed(pol *policy.Policy, name string) *policy.Rule {
	for _, r := range pol.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func requirementHint(pol *policy.Policy, rule, field string) string {
	r := ruleNamed(pol, rule)
	switch {
	case field == "ticket" && r != nil && r.Require.Ticket != "" && r.Require.Ticket != "true":
		return "must match " + r.Require.Ticket
	case field == "reason":
		return "why you need this access; it is recorded in the audit trail"
	}
	return ""
}

// Limits on the free text of a request. The reason and ticket travel into
// every audit event, the cloud's own records (session tags, PAM and PIM
// justifications, binding descriptions) and syslog messages of bounded
// size; a page of text in a reason would block a sink, not inform anyone.
const (
	MaxReasonLength = 1000
	MaxTicketLength = 128
)

// CheckText checks a reason or ticket: bounded, one line, no control
// characters.
func CheckText(field, v string) error {
	limit := MaxReasonLength
	if field == "ticket" {
		limit = MaxTicketLength
	}
	if len(v) > limit {
		return fmt.Errorf("%s is %d bytes; keep it under %d (a ticket id, a sentence)", field, len(v), limit)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s must be one line of text, without control characters", field)
		}
	}
	return nil
}

// validator checks an answer before the policy sees it, so that a typo is
// re-asked instead of denied.
func validator(pol *policy.Policy, rule, field string) func(string) error {
	var re *regexp.Regexp
	if r := ruleNamed(pol, rule); field == "ticket" && r != nil && r.Require.Ticket != "" && r.Require.Ticket != "true" {
		re, _ = regexp.Compile(r.Require.Ticket) // validated when the policy was parsed
	}
	return func(v string) error {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("%s must not be empty", field)
		}
		if err := CheckText(field, v); err != nil {
			return err
		}
		if re != nil && !re.MatchString(v) {
			return fmt.Errorf("ticket must match %s", re)
		}
		return nil
	}
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	if commit == "" {
		return "(working file)"
	}
	return commit
}

func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}
