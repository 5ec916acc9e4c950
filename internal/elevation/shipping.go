package elevation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jit/internal/audit/ship"
	"github.com/jitaccess/jit/internal/policy"
)

// DefaultShipWait is how long Close waits, by default, for deliveries to
// sinks still in progress.
const DefaultShipWait = 2 * time.Second

// retryAfter keeps a sink that failed from being tried again by the same
// process (Require and flush excepted): jit runs for seconds, and a sink
// that hangs should cost one timeout per run, not one per event.
const retryAfter = time.Minute

// SinkError means a required audit sink did not accept the request or grant
// event, so no credentials were released (exit 1). The refusal is
// journaled.
type SinkError struct {
	// Event is the event the sinks did not accept: request or grant.
	Event string
	// Sinks names the required sinks that failed.
	Sinks []string
	Err   error
	// Remains says what became of a grant the cloud had already made:
	// revoked, or valid until its expiry.
	Remains string
}

func (e *SinkError) Error() string {
	var b strings.Builder
	noun := "sink"
	if len(e.Sinks) > 1 {
		noun = "sinks"
	}
	fmt.Fprintf(&b, "required audit %s %s did not accept the %s", noun, strings.Join(e.Sinks, ", "), e.Event)
	var re *ship.RequiredError
	if errors.As(e.Err, &re) {
		msgs := make([]string, len(re.Failed))
		for i, f := range re.Failed {
			msgs[i] = oneLine(f.Err.Error())
		}
		fmt.Fprintf(&b, ": %s", strings.Join(msgs, "; "))
	} else if e.Err != nil {
		fmt.Fprintf(&b, ": %s", oneLine(e.Err.Error()))
	}
	b.WriteString("; no credentials issued")
	if e.Remains != "" {
		b.WriteString("; " + e.Remains)
	}
	b.WriteString(" (see `jit audit status`)")
	return b.String()
}

func (e *SinkError) Unwrap() error { return e.Err }

// shipping is a Service's delivery of the journal to its sinks: a
// goroutine ships after each append, so that the elevation never waits for
// a sink that is not required.
type shipping struct {
	sh *ship.Shipper // nil: no sinks
	// err is why the shipper could not be built; required tells whether a
	// required sink was configured (then elevations are refused).
	err      error
	required []string

	mu      sync.Mutex
	started bool
	closed  bool
	kickC   chan struct{}
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	failed  map[string]error // by sink, the last failure seen
	order   []string
	// reported are sinks whose failure a SinkError already told.
	reported map[string]bool
}

// shipping returns the Service's shipping, building it on first use from
// the policy's sinks (pol may be nil) and the user's.
func (s *Service) shipping(pol *policy.Policy) *shipping {
	if s.ship != nil {
		return s.ship
	}
	sp := &shipping{}
	s.ship = sp
	var cfgs []policy.SinkConfig
	if pol != nil {
		cfgs = slices.Clone(pol.Sinks)
	}
	cfgs = append(cfgs, s.UserSinks...)
	if s.Sinks == nil || len(cfgs) == 0 {
		return sp
	}
	for _, c := range cfgs {
		if c.Required {
			sp.required = append(sp.required, ship.SinkName(c))
		}
	}
	sh, err := s.Sinks(cfgs)
	if err != nil {
		sp.err = err
		s.warn(fmt.Sprintf("audit sinks: %v; events stay in the local journal", err))
		return sp
	}
	if sh != nil && sh.Len() > 0 {
		if sh.RetryAfter == 0 {
			sh.RetryAfter = retryAfter
		}
		sp.sh = sh
	}
	return sp
}

// AuditShipper returns the shipper of the journal to the configured sinks
// (the policy's, when it loads, and the user's), for `jit audit flush` and
// `jit audit status`; nil when no sink is configured. When the policy
// cannot be loaded, the shipper has the user's sinks only and the error is
// a *PolicyError. Close the Service when done.
func (s *Service) AuditShipper(ctx context.Context) (*ship.Shipper, error) {
	var polErr error
	var pol *policy.Policy
	if s.ship == nil && s.Source != nil {
		p, _, err := s.Policy(ctx)
		if err != nil {
			polErr = err
		}
		pol = p
	}
	sp := s.shipping(pol)
	if sp.err != nil {
		return nil, sp.err
	}
	return sp.sh, polErr
}

// require makes sure the required sinks accepted the journal up to seq,
// which holds event. Without required sinks it does nothing.
func (s *Service) require(ctx context.Context, pol *policy.Policy, event string, seq uint64) error {
	sp := s.shipping(pol)
	if len(sp.required) == 0 {
		return nil
	}
	if sp.err != nil || sp.sh == nil {
		err := sp.err
		if err == nil {
			err = errors.New("no audit sink could be built")
		}
		return &SinkError{Event: event, Sinks: sp.required, Err: err}
	}
	if seq == 0 {
		// A journal that does not number its events cannot tell what the
		// sinks must have: refuse rather than pass.
		return &SinkError{Event: event, Sinks: sp.required, Err: errors.New("the journal did not number the event")}
	}
	s.debugf("audit: waiting for required sinks %v to accept seq %d (%s)", sp.required, seq, event)
	err := sp.sh.Require(ctx, seq)
	if err == nil {
		return nil
	}
	se := &SinkError{Event: event, Err: err, Sinks: sp.required}
	var re *ship.RequiredError
	if errors.As(err, &re) {
		se.Sinks = re.Names()
	}
	sp.mu.Lock()
	if sp.reported == nil {
		sp.reported = map[string]bool{}
	}
	for _, name := range se.Sinks {
		sp.reported[name] = true // the error says it: Close need not
	}
	sp.mu.Unlock()
	return se
}

// kick has the journal shipped in the background.
func (sp *shipping) kick() {
	if sp.sh == nil {
		return
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.closed {
		return
	}
	if !sp.started {
		sp.started = true
		sp.kickC = make(chan struct{}, 1)
		sp.done = make(chan struct{})
		sp.ctx, sp.cancel = context.WithCancel(context.Background())
		go sp.run()
	}
	select {
	case sp.kickC <- struct{}{}:
	default: // a round is already due; it will see these events too
	}
}

func (sp *shipping) run() {
	defer close(sp.done)
	for range sp.kickC {
		for _, st := range sp.sh.Ship(sp.ctx) {
			if st.Err != nil {
				sp.noteFailure(st.Name, st.Err)
			} else if !st.Busy {
				sp.noteFailure(st.Name, nil)
			}
		}
	}
}

func (sp *shipping) noteFailure(name string, err error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.failed == nil {
		sp.failed = map[string]error{}
	}
	if _, seen := sp.failed[name]; !seen && err != nil {
		sp.order = append(sp.order, name)
	}
	if err == nil {
		if _, seen := sp.failed[name]; seen {
			sp.failed[name] = nil
		}
		return
	}
	sp.failed[name] = err
}

// close lets the last round finish (at most wait), then stops shipping,
// warns about each sink left with a failure, and closes the sinks.
func (sp *shipping) close(wait time.Duration, warn func(string)) error {
	sp.mu.Lock()
	if sp.closed {
		sp.mu.Unlock()
		return nil
	}
	sp.closed = true
	started := sp.started
	if started {
		close(sp.kickC)
	}
	sp.mu.Unlock()
	if started {
		t := time.NewTimer(wait)
		select {
		case <-sp.done:
		case <-t.C:
			sp.cancel()
			<-sp.done // sinks honour the context
		}
		t.Stop()
		sp.cancel()
	}
	if sp.sh == nil {
		return nil
	}
	sp.mu.Lock()
	for _, name := range sp.order {
		if err := sp.failed[name]; err != nil && warn != nil && !sp.reported[name] {
			warn(fmt.Sprintf("audit sink %s: %s; its events wait in the local journal (`jit audit status`, `jit audit flush`)", name, oneLine(err.Error())))
		}
	}
	sp.mu.Unlock()
	return sp.sh.Close()
}

func (s *Service) shipWait() time.Duration {
	if s.ShipWait > 0 {
		return s.ShipWait
	}
	return DefaultShipWait
}
