package ship

import (
	"context"
	"fmt"
	"net/url"
	"reflect"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/policy"
)

// SinkName is the name of a configured sink: its `name`, else one derived
// from its type and destination, such as "syslog tcp://127.0.0.1:6514",
// "file /var/log/jit/audit.jsonl", "http https://siem.example.com/services/collector"
// (no credentials, query or fragment) or "s3 audit/jit/". The name keys
// the sink's cursor: renaming a sink, or changing its destination when it
// has no name, starts a new cursor, which delivers the journal from its
// start.
func SinkName(c policy.SinkConfig) string {
	if c.Name != "" {
		return c.Name
	}
	switch c.Type {
	case "file":
		return "file " + c.Path
	case "syslog":
		return "syslog " + c.Address
	case "http":
		if u, err := url.Parse(c.URL); err == nil {
			u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
			return "http " + u.String()
		}
		return "http " + c.URL
	case "s3":
		return "s3 " + c.Bucket + "/" + c.Prefix
	}
	return c.Type
}

// Build makes the sink of one configuration.
type Build func(policy.SinkConfig) (audit.BatchSink, error)

// Targets turns sink configurations (the policy's, then the user's) into
// targets, building each sink with build. A configuration build refuses
// becomes a [Failing] sink, so that its events wait in the journal, `jit
// audit status` shows why, and, if it is required, elevations are refused.
// Two configurations with the same name are one sink when they are the
// same apart from `required` (required if either is); otherwise they are
// an error.
func Targets(cfgs []policy.SinkConfig, build Build) ([]Target, error) {
	var out []Target
	var kept []policy.SinkConfig
	index := map[string]int{}
	for i, c := range cfgs {
		name := SinkName(c)
		if j, dup := index[name]; dup {
			if !sameSink(kept[j], c) {
				closeAll(out)
				return nil, fmt.Errorf("audit sinks #%d and #%d are both named %q but differ: give one a distinct name (key name:)", j+1, i+1, name)
			}
			out[j].Required = out[j].Required || c.Required
			out[j].Timeout = max(out[j].Timeout, c.Timeout)
			continue
		}
		sink, err := build(c)
		if err != nil || sink == nil {
			if err == nil {
				err = fmt.Errorf("audit sink type %s is not supported by this jit version", c.Type)
			}
			sink = &Failing{SinkName: name, Err: err}
		}
		index[name] = len(out)
		kept = append(kept, c)
		out = append(out, Target{Sink: sink, Name: name, Type: c.Type, Required: c.Required, Timeout: c.Timeout})
	}
	return out, nil
}

func sameSink(a, b policy.SinkConfig) bool {
	a.Required, b.Required = false, false
	a.Timeout, b.Timeout = 0, 0
	a.Line, b.Line = 0, 0
	return reflect.DeepEqual(a, b)
}

func closeAll(ts []Target) {
	for _, t := range ts {
		_ = t.Sink.Close()
	}
}

// Failing is a sink that cannot be used, because its settings are wrong or
// this build lacks its type: every Send fails with Err.
type Failing struct {
	SinkName string
	Err      error
}

// Name implements audit.BatchSink.
func (f *Failing) Name() string { return f.SinkName }

// Send fails with f.Err.
func (f *Failing) Send(context.Context, []audit.Record) error { return f.Err }

// Close does nothing.
func (f *Failing) Close() error { return nil }
