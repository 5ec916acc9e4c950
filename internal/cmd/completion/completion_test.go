package completion

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/iostreams"
)

func TestCompletion(t *testing.T) {
	tests := []struct {
		args    []string
		want    string
		wantErr string
	}{
		{args: []string{"bash"}, want: "# bash completion V2 for jit"},
		{args: []string{"zsh"}, want: "#compdef jit"},
		{args: []string{"fish"}, want: "complete -c jit"},
		{args: []string{"powershell"}, want: "Register-ArgumentCompleter"},
		{args: []string{"tcsh"}, wantErr: `unsupported shell "tcsh": use bash, zsh, fish or powershell`},
		{args: nil, wantErr: "which shell? jit completion {bash|zsh|fish|powershell}"},
		{args: []string{"bash", "zsh"}, wantErr: "too many arguments"},
	}
	for _, tt := range tests {
		ios, _, out, _ := iostreams.Test()
		root := &cobra.Command{Use: "jit"}
		root.AddCommand(NewCmdCompletion(&cmdutil.Factory{IOStreams: ios}), &cobra.Command{Use: "targets", Run: func(*cobra.Command, []string) {}})
		root.SetArgs(append([]string{"completion"}, tt.args...))
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&bytes.Buffer{})
		err := root.Execute()
		if tt.wantErr != "" {
			var fe *cmdutil.FlagError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error = %v, want usage error %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if !strings.Contains(out.String(), tt.want) {
			t.Errorf("%q: script lacks %q", tt.args, tt.want)
		}
	}
}
