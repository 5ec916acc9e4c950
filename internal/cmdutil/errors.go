package cmdutil

import (
	"errors"
	"fmt"

	"github.com/jitaccess/jit/internal/prompt"
)

// FlagError is a usage error: a missing or malformed flag or argument
// (exit 64). The message names the flag and, where possible, the fix.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf returns a usage error.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// ErrCancel means the user cancelled (an aborted prompt, Ctrl-C); exit 2.
var ErrCancel = prompt.ErrCancelled

// ErrSilent means the failure was already reported; exit 1 with no message.
var ErrSilent = errors.New("silent error")

// ExitError carries an exit status that jit passes through: the elevated
// command's own status, or the shell's 126/127 when it could not be run.
// Err, when set, is printed; otherwise the child already reported.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

func (e *ExitError) Unwrap() error { return e.Err }

// HintError attaches a one-line hint, printed under the message.
type HintError struct {
	Err  error
	Hint string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }

// WithHint wraps err with a hint; nil stays nil.
func WithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &HintError{Err: err, Hint: hint}
}
