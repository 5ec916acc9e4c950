package version

import (
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/jitaccess/jit/internal/build"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/iostreams"
)

func TestNewCmdVersion(t *testing.T) {
	tests := []struct {
		args     []string
		wantJSON bool
		wantErr  string
	}{
		{args: nil},
		{args: []string{"--json"}, wantJSON: true},
		{args: []string{"v1"}, wantErr: `jit version takes no arguments (got "v1")`},
	}
	for _, tt := range tests {
		ios, _, _, _ := iostreams.Test()
		var got *Options
		cmd := NewCmdVersion(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		_, err := cmd.ExecuteC()
		if tt.wantErr != "" {
			var fe *cmdutil.FlagError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), "takes no arguments") {
				t.Errorf("%q: error = %v, want a usage error", tt.args, err)
			}
			continue
		}
		if err != nil || got.JSON != tt.wantJSON {
			t.Errorf("%q: err %v, JSON %v", tt.args, err, got != nil && got.JSON)
		}
	}
}

func setBuild(t *testing.T, v, c, d string) {
	t.Helper()
	ov, oc, od := build.Version, build.Commit, build.Date
	t.Cleanup(func() { build.Version, build.Commit, build.Date = ov, oc, od })
	build.Version, build.Commit, build.Date = v, c, d
}

func TestRun(t *testing.T) {
	setBuild(t, "v1.2.3", "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39", "2026-12-03T17:00:00Z")
	ios, _, out, errOut := iostreams.Test()
	if err := run(&Options{IO: ios}); err != nil {
		t.Fatal(err)
	}
	want := "jit v1.2.3 (commit 3f2a9c1d8e7b, built 2026-12-03T17:00:00Z, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if out.String() != want || errOut.Len() != 0 {
		t.Errorf("output %q, want %q (stderr %q)", out, want, errOut)
	}

	out.Reset()
	if err := run(&Options{IO: ios, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %q", out)
	}
	wantJSON := map[string]string{"version": "v1.2.3", "commit": "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39", "date": "2026-12-03T17:00:00Z", "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH}
	if len(m) != len(wantJSON) {
		t.Errorf("JSON = %v, want %v", m, wantJSON)
	}
	for k, v := range wantJSON {
		if m[k] != v {
			t.Errorf("JSON %s = %q, want %q", k, m[k], v)
		}
	}
}
