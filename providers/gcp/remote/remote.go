// Package remote runs the GCP provider in its own executable, jit-gcp, and
// speaks to it over a pipe: one JSON call on stdin, one JSON reply on
// stdout, one process per call.
//
// Why: Google's Go SDK links gRPC, protobuf descriptors and Google's
// credential stack, whose package initialisers Go runs in every process that
// links them — about 2 ms, a third of jit's start-up, on every command, for
// AWS and Azure users too. Go cannot initialise a package lazily, so the SDK
// lives in jit-gcp and jit starts it only for GCP targets. The target
// settings (gcpspec) stay in jit: a policy validates without jit-gcp.
package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jit/providers"
	"github.com/jitaccess/jit/providers/gcp/gcpspec"
)

// Executable is the name of the GCP provider's executable.
const Executable = "jit-gcp"

// Options are the provider's settings (config providers.gcp.*), passed to
// jit-gcp with every call.
type Options struct {
	ResourceManagerEndpoint string `json:"resourcemanager,omitempty"`
	IAMCredentialsEndpoint  string `json:"iamcredentials,omitempty"`
	PAMEndpoint             string `json:"privilegedaccessmanager,omitempty"`
	TokenInfoURL            string `json:"tokeninfo,omitempty"`
	TokenURL                string `json:"token,omitempty"`
	CredentialsFile         string `json:"credentials_file,omitempty"`
}

// Endpoints returns the overrides in effect, by service, for the CLI's
// warning.
func (o Options) Endpoints() map[string]string {
	out := map[string]string{}
	for k, v := range map[string]string{"resourcemanager": o.ResourceManagerEndpoint, "iamcredentials": o.IAMCredentialsEndpoint,
		"privilegedaccessmanager": o.PAMEndpoint, "tokeninfo": o.TokenInfoURL, "token": o.TokenURL} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// Call is what jit sends.
type Call struct {
	Op      string           `json:"op"` // whoami, grant, revoke, collect
	Options Options          `json:"options"`
	Fresh   bool             `json:"fresh_identity,omitempty"`
	Request *Request         `json:"request,omitempty"`
	Grant   *providers.Grant `json:"grant,omitempty"`
	Targets []Target         `json:"targets,omitempty"`
}

// Target is a GCP target on the wire.
type Target struct {
	Name string              `json:"name"`
	Spec *gcpspec.TargetSpec `json:"spec"`
}

// Request is a providers.Request on the wire.
type Request struct {
	ID        string              `json:"id"`
	Target    Target              `json:"target"`
	Principal providers.Principal `json:"principal"`
	Duration  time.Duration       `json:"duration"`
	Reason    string              `json:"reason,omitempty"`
	Ticket    string              `json:"ticket,omitempty"`
}

// Reply is what jit-gcp answers.
type Reply struct {
	Principal *providers.Principal `json:"principal,omitempty"`
	Grant     *providers.Grant     `json:"grant,omitempty"`
	Removed   int                  `json:"removed,omitempty"`
	Error     *Error               `json:"error,omitempty"`
}

// Error is a provider error on the wire.
type Error struct {
	Kind     providers.Kind    `json:"kind"`
	Op       string            `json:"op,omitempty"`
	Code     string            `json:"code,omitempty"`
	Hint     string            `json:"hint,omitempty"`
	Refs     map[string]string `json:"refs,omitempty"`
	Message  string            `json:"message"`
	Canceled bool              `json:"canceled,omitempty"`
}

// ToWire turns an error into its wire form.
func ToWire(err error) *Error {
	if err == nil {
		return nil
	}
	e := &Error{Message: err.Error(), Canceled: errors.Is(err, context.Canceled)}
	var pe *providers.Error
	if errors.As(err, &pe) {
		e.Kind, e.Op, e.Code, e.Hint, e.Refs = pe.Kind, pe.Op, pe.Code, pe.Hint, pe.Refs
		if pe.Err != nil {
			e.Message = pe.Err.Error()
		}
	}
	return e
}

// FromWire rebuilds the error.
func (e *Error) FromWire() error {
	var err error = errors.New(e.Message)
	if e.Canceled {
		err = fmt.Errorf("%s: %w", e.Message, context.Canceled)
	}
	if e.Op == "" && e.Kind == providers.KindUnknown && e.Hint == "" {
		return err
	}
	return &providers.Error{Kind: e.Kind, Op: e.Op, Code: e.Code, Hint: e.Hint, Refs: e.Refs, Err: err}
}

// Provider is the GCP provider, run in jit-gcp.
type Provider struct {
	Options Options
	// Exe is jit-gcp's path; found next to jit, then in PATH, when empty.
	Exe string

	mu  sync.Mutex
	who *providers.Principal
}

var (
	_ providers.Provider  = (*Provider)(nil)
	_ providers.WhoAmIer  = (*Provider)(nil)
	_ providers.Revoker   = (*Provider)(nil)
	_ providers.Collector = (*Provider)(nil)
)

// Name implements providers.Provider.
func (p *Provider) Name() string { return gcpspec.ProviderName }

// MaxDuration is GCP's cap for a target, computed here: it needs no SDK.
func (p *Provider) MaxDuration(_ context.Context, t providers.Target, _ providers.Principal) (time.Duration, string) {
	spec, _ := t.Spec.(*gcpspec.TargetSpec)
	return gcpspec.MaxDuration(spec)
}

// WhoAmI asks jit-gcp who the caller's Google credentials belong to;
// memoised for the process.
func (p *Provider) WhoAmI(ctx context.Context) (providers.Principal, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.who != nil && !providers.FreshIdentity(ctx) {
		return *p.who, nil
	}
	r, err := p.call(ctx, "get google identity", Call{Op: "whoami", Fresh: providers.FreshIdentity(ctx)})
	if err != nil {
		return providers.Principal{}, err
	}
	if r.Principal == nil {
		return providers.Principal{}, fmt.Errorf("%s answered no principal", Executable)
	}
	p.who = r.Principal
	return *r.Principal, nil
}

// Grant implements providers.Provider.
func (p *Provider) Grant(ctx context.Context, req providers.Request) (*providers.Grant, error) {
	spec, ok := req.Target.Spec.(*gcpspec.TargetSpec)
	if !ok || spec == nil {
		return nil, &providers.Error{Kind: providers.KindInvalid, Op: "grant " + req.Target.Name,
			Err: fmt.Errorf("target %s has no gcp settings", req.Target.Name), Hint: "add a gcp: section to the target"}
	}
	r, err := p.call(ctx, "grant "+req.Target.Name, Call{Op: "grant", Request: &Request{
		ID: req.ID, Target: Target{Name: req.Target.Name, Spec: spec}, Principal: req.Principal,
		Duration: req.Duration, Reason: req.Reason, Ticket: req.Ticket}})
	if err != nil {
		return nil, err
	}
	if r.Grant == nil {
		return nil, fmt.Errorf("%s answered no grant", Executable)
	}
	return r.Grant, nil
}

// Revoke implements providers.Revoker.
func (p *Provider) Revoke(ctx context.Context, g *providers.Grant) error {
	_, err := p.call(ctx, "revoke "+g.RequestID, Call{Op: "revoke", Grant: g})
	return err
}

// Collect implements providers.Collector.
func (p *Provider) Collect(ctx context.Context, targets []providers.Target) (int, error) {
	var wire []Target
	for _, t := range targets {
		if spec, ok := t.Spec.(*gcpspec.TargetSpec); ok {
			wire = append(wire, Target{Name: t.Name, Spec: spec})
		}
	}
	r, err := p.call(ctx, "collect expired bindings", Call{Op: "collect", Targets: wire})
	if r == nil {
		return 0, err
	}
	return r.Removed, err
}

// call runs jit-gcp once. jit-gcp inherits jit's environment (Google's
// credentials, proxies) and stderr; its reply carries credentials only
// through the pipe.
func (p *Provider) call(ctx context.Context, op string, c Call) (*Reply, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	exe, err := p.exe()
	if err != nil {
		return nil, &providers.Error{Kind: providers.KindUnknown, Op: op, Err: err,
			Hint: "install " + Executable + " next to jit (make build builds both; the release archives include it)"}
	}
	c.Options = p.Options
	in, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, exe)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &errOut
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", op, ctx.Err())
	}
	var r Reply
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		msg := lastLine(errOut.String())
		if msg == "" && runErr != nil {
			msg = runErr.Error()
		}
		return nil, fmt.Errorf("%s: %s failed: %s", op, Executable, msg)
	}
	if r.Error != nil {
		// Some calls answer partly (Collect: what was removed before a
		// resource failed).
		return &r, r.Error.FromWire()
	}
	return &r, nil
}

func (p *Provider) exe() (string, error) {
	if p.Exe != "" {
		return p.Exe, nil
	}
	return FindExecutable()
}

// FindExecutable finds jit-gcp: next to the running jit (symlinks
// resolved), then in PATH.
func FindExecutable() (string, error) {
	name := Executable
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if self, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(self); err == nil {
			self = resolved
		}
		c := filepath.Join(filepath.Dir(self), name)
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c, nil
		}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found next to jit or in PATH", Executable)
	}
	return path, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
