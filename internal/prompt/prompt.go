// Package prompt asks the user for missing values (the target, a reason) with
// huh forms drawn on stderr, so that stdout stays clean for `eval`. Commands
// decide whether prompting is allowed (IOStreams.CanPrompt); the prompter is
// never called without a terminal.
//
// It uses huh v2 (charm.land/huh/v2): huh v1 links bubbletea v1, whose
// package init queries the terminal's background colour in every process
// that links it — on every jit command, even `jit version` — costing a
// terminal round trip, swallowing typed-ahead input, and stalling 5 s on
// terminals that do not answer. v2 asks only when a form runs.
package prompt

import (
	"errors"
	"io"
	"os"

	"charm.land/huh/v2"
)

// ErrCancelled is returned when the user aborts a prompt (Ctrl-C, Esc).
var ErrCancelled = errors.New("cancelled")

// Prompter asks questions.
type Prompter interface {
	// Select returns the index of the chosen option.
	Select(title string, options []string, def int) (int, error)
	// Input asks for a line of text; validate (may be nil) re-prompts on error.
	Input(title, description string, validate func(string) error) (string, error)
}

// New returns a huh prompter reading in and drawing on out. Accessible mode
// (plain line prompts for screen readers and dumb terminals) is chosen by
// JIT_ACCESSIBLE or ACCESSIBLE, or TERM=dumb.
func New(in io.Reader, out io.Writer) Prompter {
	acc := os.Getenv("JIT_ACCESSIBLE") != "" || os.Getenv("ACCESSIBLE") != "" || os.Getenv("TERM") == "dumb"
	return &huhPrompter{in: in, out: out, accessible: acc}
}

type huhPrompter struct {
	in         io.Reader
	out        io.Writer
	accessible bool
}

func (p *huhPrompter) run(f huh.Field) error {
	form := huh.NewForm(huh.NewGroup(f)).
		WithInput(p.in).WithOutput(p.out).
		WithAccessible(p.accessible).WithShowHelp(false)
	if p.accessible {
		form = form.WithTheme(huh.ThemeFunc(huh.ThemeBase16))
	}
	err := form.Run()
	if errors.Is(err, huh.ErrUserAborted) {
		return ErrCancelled
	}
	return err
}

func (p *huhPrompter) Select(title string, options []string, def int) (int, error) {
	choice := def
	opts := make([]huh.Option[int], len(options))
	for i, o := range options {
		opts[i] = huh.NewOption(o, i)
	}
	err := p.run(huh.NewSelect[int]().Title(title).Options(opts...).Value(&choice))
	return choice, err
}

func (p *huhPrompter) Input(title, description string, validate func(string) error) (string, error) {
	var v string
	in := huh.NewInput().Title(title).Description(description).Value(&v)
	if validate != nil {
		in = in.Validate(validate)
	}
	err := p.run(in)
	return v, err
}
