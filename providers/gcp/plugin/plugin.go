// Package plugin is jit-gcp: it reads one call from stdin, runs it with the
// GCP provider in this process, and writes the reply to stdout (see
// providers/gcp/remote for why GCP runs in its own executable).
package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	fakegcp "github.com/jitaccess/jit/internal/fakecloud/gcp"
	"github.com/jitaccess/jit/providers"
	"github.com/jitaccess/jit/providers/gcp"
	"github.com/jitaccess/jit/providers/gcp/remote"
)

// Main runs one call and returns the exit status: 0 when a reply (possibly
// an error reply) was written, 1 when the call could not be read.
//
// `jit-gcp fake -config FILE` instead serves the fake Google APIs of the
// jit dev sandbox until it is stopped: the fake links gRPC too, so it lives
// here rather than in jit.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "fake" {
		if err := fakegcp.Run(ctx, os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, remote.Executable+":", err)
			return 1
		}
		return 0
	}
	return Serve(ctx, os.Stdin, os.Stdout, os.Stderr)
}

// Serve handles one call.
func Serve(ctx context.Context, in io.Reader, out, errOut io.Writer) int {
	var c remote.Call
	dec := json.NewDecoder(io.LimitReader(in, 8<<20))
	if err := dec.Decode(&c); err != nil {
		fmt.Fprintf(errOut, "%s: reading the call: %v (it is run by jit, not by hand)\n", remote.Executable, err)
		return 1
	}
	r := handle(ctx, c)
	if err := json.NewEncoder(out).Encode(r); err != nil {
		fmt.Fprintf(errOut, "%s: writing the reply: %v\n", remote.Executable, err)
		return 1
	}
	return 0
}

func handle(ctx context.Context, c remote.Call) remote.Reply {
	p, err := gcp.New(ctx, gcp.Options{
		ResourceManagerEndpoint: c.Options.ResourceManagerEndpoint,
		IAMCredentialsEndpoint:  c.Options.IAMCredentialsEndpoint,
		PAMEndpoint:             c.Options.PAMEndpoint,
		TokenInfoURL:            c.Options.TokenInfoURL,
		TokenURL:                c.Options.TokenURL,
		CredentialsFile:         c.Options.CredentialsFile,
	})
	if err != nil {
		return remote.Reply{Error: remote.ToWire(err)}
	}
	defer p.Close()
	switch c.Op {
	case "whoami":
		if c.Fresh {
			ctx = providers.WithFreshIdentity(ctx)
		}
		pr, err := p.WhoAmI(ctx)
		if err != nil {
			return remote.Reply{Error: remote.ToWire(err)}
		}
		return remote.Reply{Principal: &pr}
	case "grant":
		if c.Request == nil || c.Request.Target.Spec == nil {
			return remote.Reply{Error: remote.ToWire(fmt.Errorf("grant: no request"))}
		}
		rq := c.Request
		g, err := p.Grant(ctx, providers.Request{ID: rq.ID, Principal: rq.Principal, Duration: rq.Duration, Reason: rq.Reason, Ticket: rq.Ticket,
			Target: providers.Target{Name: rq.Target.Name, Provider: gcp.ProviderName, Spec: rq.Target.Spec}})
		if err != nil {
			return remote.Reply{Error: remote.ToWire(err)}
		}
		return remote.Reply{Grant: g}
	case "revoke":
		if c.Grant == nil {
			return remote.Reply{Error: remote.ToWire(fmt.Errorf("revoke: no grant"))}
		}
		return remote.Reply{Error: remote.ToWire(p.Revoke(ctx, c.Grant))}
	case "collect":
		var ts []providers.Target
		for _, t := range c.Targets {
			ts = append(ts, providers.Target{Name: t.Name, Provider: gcp.ProviderName, Spec: t.Spec})
		}
		n, err := p.Collect(ctx, ts)
		return remote.Reply{Removed: n, Error: remote.ToWire(err)}
	}
	return remote.Reply{Error: remote.ToWire(fmt.Errorf("unknown call %q", c.Op))}
}
