package gc

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/providers"
)

// collector is the fake provider, able to collect.
type collector struct {
	*elevationtest.Provider
	removed int
	err     error
	got     []string
}

func (c *collector) Collect(_ context.Context, ts []providers.Target) (int, error) {
	for _, t := range ts {
		c.got = append(c.got, t.Name)
	}
	return c.removed, c.err
}

func service(t *testing.T, c *collector) *elevation.Service {
	r := providers.NewRegistry()
	spec := elevationtest.Spec()
	spec.Collects = true
	r.Register(spec, func() (providers.Provider, error) { return c, nil })
	svc := elevationtest.Service(c.Provider, elevationtest.NewSource(elevationtest.Policy), filepath.Join(t.TempDir(), "audit.jsonl"))
	svc.Providers = r
	return svc
}

func TestGC(t *testing.T) {
	for _, tc := range []struct {
		name      string
		removed   int
		err       error
		wantOut   string
		wantWarn  string
		wantError string
	}{
		{"removed", 3, nil, "fake: removed 3 expired grant records\n", "", ""},
		{"a resource you may not change is skipped", 1, &providers.Error{Kind: providers.KindDenied, Op: "collect on projects/x", Err: errors.New("PERMISSION_DENIED")},
			"fake: removed 1 expired grant records\n", "skipped what you may not change: collect on projects/x", ""},
		{"other failures fail", 0, &providers.Error{Kind: providers.KindTransient, Op: "collect", Err: errors.New("unavailable")},
			"fake: removed 0 expired grant records\n", "", "fake: collect: unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &collector{Provider: &elevationtest.Provider{}, removed: tc.removed, err: tc.err}
			svc := service(t, c)
			ios, _, out, errOut := iostreams.Test()
			err := run(context.Background(), &Options{IO: ios, Elevation: func() (*elevation.Service, error) { return svc, nil }})
			if out.String() != tc.wantOut {
				t.Errorf("stdout = %q, want %q", out.String(), tc.wantOut)
			}
			if tc.wantWarn != "" && !strings.Contains(errOut.String(), tc.wantWarn) {
				t.Errorf("stderr = %q, want %q", errOut.String(), tc.wantWarn)
			}
			if (err == nil) != (tc.wantError == "") || err != nil && err.Error() != tc.wantError {
				t.Errorf("error = %v, want %q", err, tc.wantError)
			}
			sort.Strings(c.got)
			if strings.Join(c.got, ",") != "prod,staging,vault" {
				t.Errorf("collected targets %v", c.got)
			}
		})
	}
}

func TestNewCmdGC(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	cmd := NewCmdGC(&cmdutil.Factory{IOStreams: ios}, func(*Options) error { return nil })
	cmd.SetArgs([]string{"extra"})
	if err := cmd.Execute(); err == nil {
		t.Error("jit gc accepted an argument")
	}
}
