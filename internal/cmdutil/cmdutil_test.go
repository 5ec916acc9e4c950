package cmdutil

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/prompt"
)

func TestArgs(t *testing.T) {
	cmd := &cobra.Command{Use: "targets"}
	parent := &cobra.Command{Use: "jit"}
	parent.AddCommand(cmd)
	tests := []struct {
		name string
		fn   cobra.PositionalArgs
		args []string
		want string // "" for no error
	}{
		{"NoArgs none", NoArgs, nil, ""},
		{"NoArgs one", NoArgs, []string{"x"}, `jit targets takes no arguments (got "x")`},
		{"MaximumArgs at max", MaximumArgs(1, "a file"), []string{"a"}, ""},
		{"MaximumArgs over", MaximumArgs(1, "a file"), []string{"a", "b"}, "jit targets takes at most 1 argument (a file), got 2"},
		{"ExactArgs ok", ExactArgs(1, "target required"), []string{"a"}, ""},
		{"ExactArgs missing", ExactArgs(1, "target required: jit x <target>"), nil, "target required: jit x <target>"},
		{"ExactArgs too many", ExactArgs(1, "target required"), []string{"a", "b", "c"}, `jit targets: too many arguments (["b" "c"])`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn(cmd, tt.args)
			if tt.want == "" {
				if err != nil {
					t.Errorf("error = %v", err)
				}
				return
			}
			var fe *FlagError
			if !errors.As(err, &fe) {
				t.Fatalf("error = %v (%T), want a FlagError", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q, want %q", err, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	inner := errors.New("inner")
	fe := &FlagError{Err: inner}
	if fe.Error() != "inner" || !errors.Is(fe, inner) {
		t.Errorf("FlagError = %q", fe)
	}
	if err := FlagErrorf("--for: %w", inner); err.Error() != "--for: inner" || !errors.Is(err, inner) {
		t.Errorf("FlagErrorf = %q, wraps %v", err, errors.Is(err, inner))
	}
	if e := (&ExitError{Code: 3}); e.Error() != "exit status 3" || e.Unwrap() != nil {
		t.Errorf("ExitError = %q", e)
	}
	if e := (&ExitError{Code: 127, Err: inner}); e.Error() != "inner" || !errors.Is(e, inner) {
		t.Errorf("ExitError with Err = %q", e)
	}
	if WithHint(nil, "x") != nil {
		t.Error("WithHint(nil) is not nil")
	}
	h := WithHint(inner, "try this")
	var he *HintError
	if !errors.As(h, &he) || he.Hint != "try this" || h.Error() != "inner" || !errors.Is(h, inner) {
		t.Errorf("WithHint = %#v", h)
	}
	if !errors.Is(ErrCancel, prompt.ErrCancelled) {
		t.Error("ErrCancel is not the prompt's cancellation")
	}
	if ErrSilent == nil || strings.TrimSpace(ErrSilent.Error()) == "" {
		t.Error("ErrSilent has no message")
	}
}
