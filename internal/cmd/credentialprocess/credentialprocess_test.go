package credentialprocess

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/cmd/request"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/cmdutil/cmdtest"
	"github.com/jitaccess/jit/internal/elevation"
	et "github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/providers"
)

func TestNewCmdCredentialProcess(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    Options
		wantErr string
	}{
		{name: "target and flags", args: []string{"prod", "--for", "1h", "--reason", "on-call", "-t", "INC-1"}, want: Options{Target: "prod", Flags: request.Flags{For: "1h", Reason: "on-call", Ticket: "INC-1"}}},
		{name: "no target", args: nil, wantErr: "target required: jit credential-process <target>"},
		{name: "two targets", args: []string{"prod", "staging"}, wantErr: "too many arguments"},
		{name: "dry run", args: []string{"prod", "--dry-run"}, wantErr: "--dry-run is not supported by credential-process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			var got *Options
			cmd := NewCmdCredentialProcess(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
			err := cmdtest.Execute(cmd, tt.args...)
			if tt.wantErr != "" {
				if !cmdtest.IsUsage(err, tt.wantErr) {
					t.Fatalf("error = %v, want a usage error containing %q", err, tt.wantErr)
				}
				if got != nil {
					t.Error("run function called")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Target != tt.want.Target || got.Flags != tt.want.Flags {
				t.Errorf("options = %q %+v, want %q %+v", got.Target, got.Flags, tt.want.Target, tt.want.Flags)
			}
		})
	}
}

// awsPolicy has an AWS target (served by the fake provider registered as
// aws) and a target of another provider.
const awsPolicy = `version: 1
targets:
  prod:
    provider: aws
    aws: {role: admin}
  other:
    provider: fake
    fake: {role: x}
rules:
  - name: all
    subjects: ["*"]
    targets: ["*"]
    require: {reason: true}
`

func newOptions(t *testing.T, env []providers.EnvVar) (*Options, *et.Provider, *et.Provider, *bytes.Buffer) {
	t.Helper()
	ios, _, out, _ := iostreams.Test()
	now := time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC)
	awsP := &et.Provider{ProviderName: "aws", Env: env, Principal: providers.Principal{ID: "alice", Source: "fake"}, Now: func() time.Time { return now }}
	other := &et.Provider{Principal: providers.Principal{ID: "alice", Source: "fake"}}
	reg := providers.NewRegistry()
	reg.Register(et.SpecNamed("aws"), func() (providers.Provider, error) { return awsP, nil })
	reg.Register(et.Spec(), func() (providers.Provider, error) { return other, nil })
	svc := et.Service(awsP, et.NewSource(awsPolicy), filepath.Join(t.TempDir(), "audit.jsonl"))
	svc.Providers = reg
	return &Options{IO: ios, Elevation: func() (*elevation.Service, error) { return svc, nil }}, awsP, other, out
}

var awsEnv = []providers.EnvVar{
	{Name: "AWS_ACCESS_KEY_ID", Value: "ASIAFAKE"},
	{Name: "AWS_SECRET_ACCESS_KEY", Value: "s3cr3t", Secret: true},
	{Name: "AWS_SESSION_TOKEN", Value: "t0ken", Secret: true},
	{Name: "AWS_REGION", Value: "eu-west-1"},
}

func TestRun(t *testing.T) {
	o, awsP, _, out := newOptions(t, awsEnv)
	o.Target, o.Flags = "prod", request.Flags{For: "1h", Reason: "on-call"}
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	want := map[string]any{"Version": float64(1), "AccessKeyId": "ASIAFAKE", "SecretAccessKey": "s3cr3t", "SessionToken": "t0ken", "Expiration": "2026-12-03T18:00:00Z"}
	if len(got) != len(want) {
		t.Errorf("output = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if g := awsP.Grants(); len(g) != 1 || g[0].Duration != time.Hour {
		t.Errorf("grants = %+v", g)
	}
}

func TestRunErrors(t *testing.T) {
	t.Run("other provider refused before granting", func(t *testing.T) {
		o, awsP, other, out := newOptions(t, awsEnv)
		o.Target, o.Flags.Reason = "other", "r"
		var fe *cmdutil.FlagError
		if err := run(context.Background(), o); !errors.As(err, &fe) || err.Error() != "target other uses provider fake; credential-process is for AWS targets" {
			t.Fatalf("error = %v", err)
		}
		if len(other.Grants())+len(awsP.Grants()) != 0 || out.Len() != 0 {
			t.Error("granted or printed for a target of another provider")
		}
	})
	t.Run("never prompts: missing reason names the flag", func(t *testing.T) {
		o, awsP, _, _ := newOptions(t, awsEnv)
		o.IO.SetStdinTTY(true)
		o.IO.SetStderrTTY(true)
		o.Target = "prod"
		var fe *cmdutil.FlagError
		if err := run(context.Background(), o); !errors.As(err, &fe) || !strings.Contains(err.Error(), "--reason required") {
			t.Fatalf("error = %v", err)
		}
		if len(awsP.Grants()) != 0 {
			t.Error("granted")
		}
	})
	t.Run("no AWS credentials in the grant", func(t *testing.T) {
		o, _, _, out := newOptions(t, []providers.EnvVar{{Name: "AWS_REGION", Value: "x"}})
		o.Target, o.Flags.Reason = "prod", "r"
		if err := run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "returned no AWS credentials for prod") {
			t.Fatalf("error = %v", err)
		}
		if out.Len() != 0 {
			t.Errorf("printed %q", out)
		}
	})
	t.Run("bad duration", func(t *testing.T) {
		o, _, _, _ := newOptions(t, awsEnv)
		o.Target, o.Flags = "prod", request.Flags{For: "1 hour", Reason: "r"}
		var fe *cmdutil.FlagError
		if err := run(context.Background(), o); !errors.As(err, &fe) {
			t.Fatalf("error = %v", err)
		}
	})
}
