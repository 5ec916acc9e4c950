package revoke

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/grants"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/providers"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	p := &elevationtest.Provider{Principal: providers.Principal{ID: "alice@example.com", Source: "fake"}}
	svc := elevationtest.Service(p, elevationtest.NewSource(elevationtest.Policy), filepath.Join(dir, "audit.jsonl"))
	svc.Grants = &grants.Store{Dir: filepath.Join(dir, "grants")}
	res, err := svc.Elevate(context.Background(), elevation.Request{Target: "staging", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ios, _, out, _ := iostreams.Test()
	o := &Options{IO: ios, Elevation: func() (*elevation.Service, error) { return svc, nil }}

	o.Key = "nothing"
	var fe *cmdutil.FlagError
	if err := run(context.Background(), o); err == nil || !asFlag(err, &fe) {
		t.Errorf("unknown key: %v, want a usage error", err)
	}
	o.Key = res.RequestID
	if err := run(context.Background(), o); err != nil || !strings.Contains(out.String(), "revoked "+res.RequestID+" (staging, fake)") {
		t.Fatalf("revoke: %v, %q", err, out.String())
	}
	if len(p.Revoked()) != 1 {
		t.Errorf("provider revoked %d grants", len(p.Revoked()))
	}
}

func TestNewCmdRevoke(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	var got *Options
	cmd := NewCmdRevoke(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"prod"})
	if err := cmd.Execute(); err != nil || got.Key != "prod" {
		t.Fatalf("revoke prod: %v, %+v", err, got)
	}
	cmd = NewCmdRevoke(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { return nil })
	cmd.SetArgs(nil)
	var fe *cmdutil.FlagError
	if err := cmd.Execute(); !asFlag(err, &fe) {
		t.Errorf("revoke without an argument: %v", err)
	}
}
