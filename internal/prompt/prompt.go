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
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"

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
	if acc {
		// Plain line prompts of our own: huh's accessible mode (v1 and
		// v2.0.3) answers end of input with the default or an empty,
		// unvalidated value, and its read cannot be cancelled by Ctrl-C.
		return &linePrompter{in: in, out: out}
	}
	return &huhPrompter{in: in, out: out}
}

type huhPrompter struct {
	in  io.Reader
	out io.Writer
}

func (p *huhPrompter) run(f huh.Field) error {
	form := huh.NewForm(huh.NewGroup(f)).
		WithInput(p.in).WithOutput(p.out).WithShowHelp(false)
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

// linePrompter asks line by line, for screen readers and dumb terminals.
// End of input (Ctrl-D) and SIGINT (Ctrl-C, which a terminal in line mode
// turns into a signal) cancel the prompt.
type linePrompter struct {
	in  io.Reader
	out io.Writer
	// lines delivers what one reader goroutine reads: a read blocked on a
	// terminal cannot be interrupted, so a cancelled prompt leaves it
	// running and the next prompt takes its line. One reader for all
	// prompts also keeps lines typed ahead.
	lines chan lineOrErr
	// err is the reader's final error (io.EOF at end of input).
	err error
}

type lineOrErr struct {
	s   string
	err error
}

// interrupts delivers SIGINT while a prompt runs. It is set before the
// prompt is drawn, so a Ctrl-C typed as soon as it shows is never missed.
func interrupts() (<-chan os.Signal, func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	return sig, func() { signal.Stop(sig) }
}

func (p *linePrompter) readLine(sig <-chan os.Signal) (string, error) {
	if p.err != nil {
		return "", p.err
	}
	if p.lines == nil {
		p.lines = make(chan lineOrErr)
		go func() {
			r := bufio.NewReader(p.in)
			for {
				s, err := r.ReadString('\n')
				if err != nil && s == "" {
					p.lines <- lineOrErr{err: err}
					return
				}
				p.lines <- lineOrErr{s: strings.TrimRight(s, "\r\n")}
			}
		}()
	}
	select {
	case l := <-p.lines:
		if l.err != nil {
			p.err = l.err
			if errors.Is(l.err, io.EOF) {
				p.err = ErrCancelled
			}
			return "", p.err
		}
		return l.s, nil
	case <-sig:
		fmt.Fprintln(p.out)
		return "", ErrCancelled
	}
}

func (p *linePrompter) Input(title, description string, validate func(string) error) (string, error) {
	sig, stop := interrupts()
	defer stop()
	if description != "" {
		fmt.Fprintf(p.out, "%s (%s)\n", title, description)
	}
	for {
		fmt.Fprintf(p.out, "%s: ", title)
		s, err := p.readLine(sig)
		if err != nil {
			return "", err
		}
		s = strings.TrimSpace(s)
		if validate != nil {
			if err := validate(s); err != nil {
				fmt.Fprintln(p.out, err)
				continue
			}
		}
		return s, nil
	}
}

func (p *linePrompter) Select(title string, options []string, def int) (int, error) {
	sig, stop := interrupts()
	defer stop()
	fmt.Fprintln(p.out, title)
	for i, o := range options {
		fmt.Fprintf(p.out, "%d. %s\n", i+1, o)
	}
	for {
		fmt.Fprintf(p.out, "Enter a number between 1 and %d [%d]: ", len(options), def+1)
		s, err := p.readLine(sig)
		if err != nil {
			return def, err
		}
		s = strings.TrimSpace(s)
		if s == "" && def >= 0 && def < len(options) {
			return def, nil
		}
		if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(options) {
			return n - 1, nil
		}
		fmt.Fprintf(p.out, "%q is not a number between 1 and %d\n", s, len(options))
	}
}
