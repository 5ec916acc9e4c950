package audit

import "context"

// Record is one journaled event as sinks receive it: the line exactly as it
// stands in the journal (so that a sink's copy verifies like the journal),
// and the event it parses to (for the fields a format needs: time, event
// type, request id).
type Record struct {
	Seq uint64
	// Line is the canonical JSON line, without its trailing newline.
	Line  []byte
	Event *Event
}

// BatchSink delivers journaled events to one destination. Send delivers
// the batch in order and returns nil only when the destination has
// accepted all of it; on error the whole batch is retried later (delivery is
// at least once, so a destination may see a batch again after a failure
// that happened after it accepted). Send must honour ctx.
type BatchSink interface {
	Name() string
	Send(ctx context.Context, batch []Record) error
	Close() error
}
