package iostreams

import (
	"os"
	"testing"
)

func TestTest(t *testing.T) {
	ios, in, out, errOut := Test()
	if ios.IsStdinTTY() || ios.IsStdoutTTY() || ios.IsStderrTTY() {
		t.Error("Test() streams claim to be terminals")
	}
	if ios.CanPrompt() || ios.ColorEnabled() {
		t.Error("Test() streams may prompt or colour")
	}
	in.WriteString("input")
	b := make([]byte, 5)
	if n, _ := ios.In.Read(b); string(b[:n]) != "input" {
		t.Errorf("In reads %q", b[:n])
	}
	ios.Out.Write([]byte("o"))
	ios.ErrOut.Write([]byte("e"))
	if out.String() != "o" || errOut.String() != "e" {
		t.Errorf("out %q err %q", out, errOut)
	}
}

func TestOverrides(t *testing.T) {
	ios, _, _, _ := Test()
	ios.SetStdinTTY(true)
	ios.SetStdoutTTY(true)
	ios.SetStderrTTY(true)
	if !ios.IsStdinTTY() || !ios.IsStdoutTTY() || !ios.IsStderrTTY() {
		t.Error("overrides not applied")
	}
	if !ios.ColorEnabled() {
		t.Error("no colour on a terminal stderr")
	}
	ios.SetStdoutTTY(false)
	if ios.IsStdoutTTY() || !ios.IsStdinTTY() {
		t.Error("overrides are not independent")
	}
}

func TestCanPrompt(t *testing.T) {
	tests := []struct {
		stdin, stdout, stderr, never bool
		want                         bool
	}{
		{true, true, true, false, true},
		{true, false, true, false, true}, // stdout captured by eval: still fine
		{false, true, true, false, false},
		{true, true, false, false, false},
		{true, true, true, true, false},
		{false, false, false, false, false},
	}
	for _, tt := range tests {
		ios, _, _, _ := Test()
		ios.SetStdinTTY(tt.stdin)
		ios.SetStdoutTTY(tt.stdout)
		ios.SetStderrTTY(tt.stderr)
		ios.SetNeverPrompt(tt.never)
		if got := ios.CanPrompt(); got != tt.want {
			t.Errorf("stdin %v stdout %v stderr %v never %v: CanPrompt = %v, want %v", tt.stdin, tt.stdout, tt.stderr, tt.never, got, tt.want)
		}
	}
}

// TestDetection: files that are not terminals are detected as such, and a
// reader without a file descriptor is never a terminal.
func TestDetection(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ios := &IOStreams{In: r, Out: f, ErrOut: w}
	if ios.IsStdinTTY() || ios.IsStdoutTTY() || ios.IsStderrTTY() || ios.CanPrompt() {
		t.Error("a pipe or a file detected as a terminal")
	}
	// Detection is cached: an override after the first call still wins.
	ios.SetStdinTTY(true)
	if !ios.IsStdinTTY() {
		t.Error("override after detection ignored")
	}
}

func TestSystemColour(t *testing.T) {
	const unset = "\x00unset"
	for _, tt := range []struct {
		noColor, term string
		want          bool
	}{
		{unset, "xterm-256color", true},
		{"1", "xterm", false},
		{"", "xterm", true}, // no-color.org: an empty NO_COLOR does not count
		{unset, "dumb", false},
	} {
		t.Setenv("NO_COLOR", "restore me")
		if tt.noColor == unset {
			os.Unsetenv("NO_COLOR")
		} else {
			os.Setenv("NO_COLOR", tt.noColor)
		}
		t.Setenv("TERM", tt.term)
		ios := System()
		ios.SetStderrTTY(true)
		if got := ios.ColorEnabled(); got != tt.want {
			t.Errorf("NO_COLOR=%q TERM=%q: ColorEnabled = %v, want %v", tt.noColor, tt.term, got, tt.want)
		}
		ios.SetStderrTTY(false)
		if ios.ColorEnabled() {
			t.Error("colour on a stderr that is not a terminal")
		}
	}
}
