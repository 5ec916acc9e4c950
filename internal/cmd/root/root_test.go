package root

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/iostreams"
)

func newRoot() (*cobra.Command, *GlobalFlags, *bytes.Buffer) {
	ios, _, out, _ := iostreams.Test()
	g := &GlobalFlags{}
	cmd := NewCmdRoot(&cmdutil.Factory{IOStreams: ios, Getenv: func(string) string { return "" }}, g)
	cmd.SetOut(out)
	cmd.SetErr(&bytes.Buffer{})
	return cmd, g, out
}

func TestGlobalFlags(t *testing.T) {
	cmd, g, out := newRoot()
	cmd.SetArgs([]string{"--config", "/etc/jit.yaml", "--debug", "--policy-repo", "/srv/p", "version"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if g.Config != "/etc/jit.yaml" || !g.Debug {
		t.Errorf("globals = %+v", g)
	}
	if f := cmd.PersistentFlags().Lookup("policy-repo"); f == nil || !f.Changed || f.Value.String() != "/srv/p" {
		t.Errorf("--policy-repo = %+v", f)
	}
	if !strings.HasPrefix(out.String(), "jit ") {
		t.Errorf("version output %q", out)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"targets", "--frobnicate"}, "unknown flag: --frobnicate"},
		{[]string{"audit", "tail", "-n", "x"}, `invalid argument "x"`},
		{[]string{"elevate", "prod", "--for"}, "flag needs an argument: --for"},
		{[]string{"--debug=maybe", "version"}, "invalid argument"},
	}
	for _, tt := range tests {
		cmd, _, _ := newRoot()
		cmd.SetArgs(tt.args)
		err := cmd.Execute()
		var fe *cmdutil.FlagError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error = %v (%T), want a usage error containing %q", tt.args, err, err, tt.want)
		}
	}
	cmd, _, _ := newRoot()
	cmd.SetArgs([]string{"frobnicate"})
	if err := cmd.Execute(); err == nil || !strings.HasPrefix(err.Error(), `unknown command "frobnicate" for "jit"`) {
		t.Errorf("unknown command: %v", err)
	}
}

func TestGroups(t *testing.T) {
	cmd, _, _ := newRoot()
	groups := map[string]string{}
	for _, c := range cmd.Commands() {
		groups[c.Name()] = c.GroupID
	}
	for name, want := range map[string]string{
		"elevate": "access", "env": "access", "credential-process": "access", "targets": "access", "whoami": "access",
		"policy": "policy", "audit": "policy", "dev": "policy", "version": "", "completion": "",
	} {
		got, ok := groups[name]
		if !ok || got != want {
			t.Errorf("%s: group %q (present %v), want %q", name, got, ok, want)
		}
	}
	if !cmd.SilenceErrors || !cmd.SilenceUsage {
		t.Error("cobra prints errors or usage itself; Main reports them")
	}
}
