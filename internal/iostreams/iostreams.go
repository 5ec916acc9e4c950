// Package iostreams carries a command's standard streams and the facts about
// them that decide how jit talks: data goes to Out, everything meant for a
// human (prompts, progress, warnings) goes to ErrOut, because Out is often
// captured by `eval "$(jit env …)"`.
package iostreams

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are a command's streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY, stdoutTTY, stderrTTY *bool
	neverPrompt                    bool
	colorDisabled                  bool
}

// System returns the process's real streams. TTY detection happens on first
// use, not here.
func System() *IOStreams {
	// no-color.org: NO_COLOR set to an empty string does not count.
	noColor := os.Getenv("NO_COLOR") != ""
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, colorDisabled: noColor || os.Getenv("TERM") == "dumb"}
}

// Test returns streams backed by buffers, with every TTY flag false.
func Test() (ios *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	f := false
	return &IOStreams{In: in, Out: out, ErrOut: errOut, stdinTTY: &f, stdoutTTY: &f, stderrTTY: &f}, in, out, errOut
}

func isTTY(v any) bool {
	f, ok := v.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

func cached(p **bool, v any) bool {
	if *p == nil {
		b := isTTY(v)
		*p = &b
	}
	return **p
}

// IsStdinTTY reports whether standard input is a terminal.
func (s *IOStreams) IsStdinTTY() bool { return cached(&s.stdinTTY, s.In) }

// IsStdoutTTY reports whether standard output is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return cached(&s.stdoutTTY, s.Out) }

// IsStderrTTY reports whether standard error is a terminal.
func (s *IOStreams) IsStderrTTY() bool { return cached(&s.stderrTTY, s.ErrOut) }

// SetStdinTTY overrides TTY detection of standard input.
func (s *IOStreams) SetStdinTTY(b bool) { s.stdinTTY = &b }

// SetStdoutTTY overrides TTY detection of standard output.
func (s *IOStreams) SetStdoutTTY(b bool) { s.stdoutTTY = &b }

// SetStderrTTY overrides TTY detection of standard error.
func (s *IOStreams) SetStderrTTY(b bool) { s.stderrTTY = &b }

// SetNeverPrompt forbids prompting even on a terminal (JIT_NO_PROMPT).
func (s *IOStreams) SetNeverPrompt(b bool) { s.neverPrompt = b }

// CanPrompt reports whether jit may ask the user something: stdin and stderr
// are terminals (stdout may be captured by eval) and prompting is not
// disabled.
func (s *IOStreams) CanPrompt() bool {
	return !s.neverPrompt && s.IsStdinTTY() && s.IsStderrTTY()
}

// ColorEnabled reports whether human output on stderr may use colour.
func (s *IOStreams) ColorEnabled() bool { return !s.colorDisabled && s.IsStderrTTY() }
