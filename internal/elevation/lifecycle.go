package elevation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/grants"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/providers"
)

// Sweep journals the end of grants that ended while no jit process watched
// them: a grant past its expiry gets its `expire` event, and a session whose
// jit process died (SIGKILL, a reboot) without recording its end gets a
// `session_end` saying so. Every jit command that touches grants runs it, so
// no grant ends without an end event.
func (s *Service) Sweep(ctx context.Context) error {
	if s.Grants == nil {
		return nil
	}
	recs, err := s.Grants.List()
	if err != nil {
		s.warn(err.Error())
	}
	now := s.now()
	pol := s.policyIfLoadable(ctx)
	for _, r := range recs {
		if r.Host != "" && r.Host != s.Host {
			continue // another machine's record (a shared home directory)
		}
		var events []*audit.Event
		if r.SessionPID != 0 && !r.SessionEnded && !processAlive(r.SessionPID) {
			ev := s.recordEvent(audit.EventSessionEnd, r)
			ev.Session = &audit.Session{Command: r.SessionCmd}
			ev.Error = fmt.Sprintf("the jit process %d running the session ended without recording it (killed, or the machine restarted)", r.SessionPID)
			events = append(events, ev)
			r.SessionEnded, r.SessionPID = true, 0
		}
		expired := r.Expired(now)
		if expired {
			events = append(events, s.recordEvent(audit.EventExpire, r))
		}
		// The clouds drop a request nobody approved within a day (GCP PAM:
		// 24h; Azure PIM: by policy, at most days); jit stops listing it
		// after PendingLifetime and records that it lapsed.
		if r.State == grants.StatePending && now.Sub(r.Created) >= PendingLifetime {
			ev := s.recordEvent(audit.EventExpire, r)
			ev.Error = "the request awaited approval for " + PendingLifetime.String() + "; jit no longer follows it"
			events = append(events, ev)
			expired = true
		}
		if len(events) == 0 {
			continue
		}
		if err := s.append(ctx, pol, events...); err != nil {
			return err
		}
		if expired {
			err = s.Grants.Delete(r.RequestID)
		} else {
			err = s.Grants.Put(r)
		}
		if err != nil {
			s.warn(err.Error())
		}
	}
	return nil
}

// PendingLifetime is how long jit keeps a request awaiting approval on
// record.
const PendingLifetime = 24 * time.Hour

// Status returns the grants on record, after a Sweep.
func (s *Service) Status(ctx context.Context) ([]*grants.Record, error) {
	if err := s.Sweep(ctx); err != nil {
		return nil, err
	}
	if s.Grants == nil {
		return nil, nil
	}
	return s.Grants.List()
}

// RevokeResult is what revoking one grant did.
type RevokeResult struct {
	Record *grants.Record
	// Revoked is true when the provider ended the grant; otherwise Err or
	// Note says why not and what stays valid.
	Revoked bool
	Note    string
	Err     error
}

// ErrNoGrant means nothing on record matched.
var ErrNoGrant = errors.New("no grant on record")

// Revoke ends early every grant on record whose request id or target is
// key, as far as its provider allows, and journals each `revoke`.
func (s *Service) Revoke(ctx context.Context, key string) ([]RevokeResult, error) {
	recs, err := s.Status(ctx)
	if err != nil {
		return nil, err
	}
	var out []RevokeResult
	pol := s.policyIfLoadable(ctx)
	for _, r := range recs {
		if r.RequestID != key && r.Target != key {
			continue
		}
		res := RevokeResult{Record: r, Note: r.RevokeNote}
		prov, err := s.Providers.Get(r.Provider)
		rv, ok := prov.(providers.Revoker)
		switch {
		case err != nil:
			res.Err = err
		case !ok || !r.Revocable:
			res.Err = fmt.Errorf("%s grants cannot be revoked: %s", r.Provider, r.RevokeNote)
		default:
			if res.Err = rv.Revoke(ctx, r.Grant()); res.Err == nil {
				res.Revoked = true
				ev := s.recordEvent(audit.EventRevoke, r)
				if err := s.append(ctx, pol, ev); err != nil {
					return out, err
				}
				if err := s.Grants.Delete(r.RequestID); err != nil {
					s.warn(err.Error())
				}
			}
		}
		out = append(out, res)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w for %q (see jit status)", ErrNoGrant, key)
	}
	return out, nil
}

// recordEvent is an event about a grant on record.
func (s *Service) recordEvent(kind string, r *grants.Record) *audit.Event {
	e := &audit.Event{
		Schema: audit.Schema, Time: s.now().UTC(), Event: kind, RequestID: r.RequestID,
		Target: r.Target, Provider: r.Provider, Reason: r.Reason, Ticket: r.Ticket,
		Grant: r.Refs, Host: s.Host, JitVersion: s.Version,
	}
	if r.Principal != "" {
		e.Principal = &audit.Principal{ID: r.Principal, Source: r.Source, Groups: r.Groups}
	}
	if !r.NotAfter.IsZero() {
		t := r.NotAfter.UTC()
		e.ExpiresAt = &t
	}
	if len(r.Policy) > 0 {
		e.Policy = &audit.PolicyRef{Repo: r.Policy["repo"], Ref: r.Policy["ref"], Commit: r.Policy["commit"], File: r.Policy["file"]}
	}
	return e
}

// policyIfLoadable returns the policy when it loads, for its sinks; the end
// of a grant is journaled even when the policy cannot be read.
func (s *Service) policyIfLoadable(ctx context.Context) *policy.Policy {
	if s.Source == nil {
		return nil
	}
	pol, _, err := s.Policy(ctx)
	if err != nil {
		return nil
	}
	return pol
}
