package shellenv

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"bash", Bash, false},
		{"zsh", Zsh, false},
		{"fish", Fish, false},
		{"pwsh", Pwsh, false},
		{"dotenv", Dotenv, false},
		{"json", JSON, false},
		{"github", GitHub, false},
		{"FISH", Fish, false},
		{" zsh ", Zsh, false},
		{"sh", Bash, false},
		{"powershell", Pwsh, false},
		{"", "", true},
		{"tcsh", "", true},
		{"cmd", "", true},
		{"env", "", true},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil {
			for _, name := range Formats() {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("ParseFormat(%q) error %q does not list %s", tt.in, err, name)
				}
			}
		}
	}
	for _, name := range Formats() {
		if f, err := ParseFormat(name); err != nil || string(f) != name {
			t.Errorf("Formats() lists %q, which ParseFormat reads as %q, %v", name, f, err)
		}
	}
}

func TestFormatForShell(t *testing.T) {
	tests := []struct {
		path, goos string
		want       Format
	}{
		{"/bin/bash", "linux", Bash},
		{"/usr/bin/zsh", "linux", Zsh},
		{"/bin/zsh", "darwin", Zsh},
		{"/usr/local/bin/zsh-5.9", "darwin", Zsh},
		{"-zsh", "darwin", Zsh},
		{"/usr/bin/fish", "linux", Fish},
		{"/opt/homebrew/bin/fish", "darwin", Fish},
		{"/usr/bin/pwsh", "linux", Pwsh},
		{"/usr/local/bin/pwsh-preview", "linux", Pwsh},
		{`C:\Program Files\PowerShell\7\pwsh.exe`, "windows", Pwsh},
		{`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, "windows", Pwsh},
		{`C:\Program Files\Git\usr\bin\bash.exe`, "windows", Bash},
		{"/bin/sh", "linux", Bash},
		{"/bin/dash", "linux", Bash},
		{"/bin/ksh", "openbsd", Bash},
		{"/bin/tcsh", "freebsd", Bash},
		{"/usr/bin/nu", "linux", Bash},
		{"", "linux", Bash},
		{"", "darwin", Bash},
		{"", "windows", Pwsh},
		{"   ", "windows", Pwsh},
	}
	for _, tt := range tests {
		if got := formatForShell(tt.path, tt.goos); got != tt.want {
			t.Errorf("formatForShell(%q, %s) = %q, want %q", tt.path, tt.goos, got, tt.want)
		}
	}
	if got := FormatForShell("/usr/bin/fish"); got != Fish {
		t.Errorf("FormatForShell(/usr/bin/fish) = %q", got)
	}
}

// renderFormats are the formats Render writes to one stream.
var renderFormats = []Format{Bash, Zsh, Fish, Pwsh, Dotenv, JSON}

func TestRenderRejects(t *testing.T) {
	const secret = "s3cr3t-VALUE-that-must-not-leak"
	tests := []struct {
		name    string
		formats []Format // nil: all
		set     []Var
		unset   []string
		wantIn  string // the error must mention this
	}{
		{name: "empty name", set: []Var{{Name: "", Value: secret}}, wantIn: "empty variable name"},
		{name: "leading digit", set: []Var{{Name: "1AWS", Value: secret}}, wantIn: `"1AWS"`},
		{name: "dash", set: []Var{{Name: "AWS-KEY", Value: secret}}, wantIn: `"AWS-KEY"`},
		{name: "space", set: []Var{{Name: "A B", Value: secret}}, wantIn: `"A B"`},
		{name: "equals", set: []Var{{Name: "A=B", Value: secret}}, wantIn: `"A=B"`},
		{name: "dot", set: []Var{{Name: "a.b", Value: secret}}, wantIn: `"a.b"`},
		{name: "non-ASCII", set: []Var{{Name: "CAFÉ", Value: secret}}, wantIn: "CAF"},
		{name: "injection", set: []Var{{Name: "X;rm", Value: secret}}, wantIn: `"X;rm"`},
		{name: "bad unset name", unset: []string{"$(id)"}, wantIn: `"$(id)"`},
		{name: "empty unset name", unset: []string{""}, wantIn: "empty variable name"},
		{name: "NUL", set: []Var{{Name: "AWS_SECRET_ACCESS_KEY", Value: secret + "\x00" + secret, Secret: true}}, wantIn: "AWS_SECRET_ACCESS_KEY: value contains a NUL"},
		{name: "NUL alone", set: []Var{{Name: "T", Value: "\x00"}}, wantIn: "T: value contains a NUL"},
		{name: "twice", set: []Var{{Name: "A", Value: secret}, {Name: "A", Value: secret}}, wantIn: "A is set twice"},
		{name: "invalid UTF-8", formats: []Format{Pwsh, JSON}, set: []Var{{Name: "TOKEN", Value: secret + "\xff"}}, wantIn: "TOKEN: value is not valid UTF-8"},
		{name: "surrogate", formats: []Format{Pwsh, JSON}, set: []Var{{Name: "TOKEN", Value: secret + "\xed\xa0\x80"}}, wantIn: "TOKEN: value is not valid UTF-8"},
	}
	for _, tt := range tests {
		formats := tt.formats
		if formats == nil {
			formats = append(slices.Clone(renderFormats), GitHub)
		}
		for _, f := range formats {
			t.Run(tt.name+"/"+string(f), func(t *testing.T) {
				var out, env bytes.Buffer
				var err error
				if f == GitHub {
					err = RenderGitHub(&out, &env, tt.set, tt.unset)
				} else {
					err = Render(&out, f, tt.set, tt.unset)
				}
				if err == nil {
					t.Fatal("accepted")
				}
				if !strings.Contains(err.Error(), tt.wantIn) {
					t.Errorf("error %q does not mention %q", err, tt.wantIn)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("error leaks the value: %q", err)
				}
				if out.Len() > 0 || env.Len() > 0 {
					t.Errorf("wrote %d+%d bytes before refusing", out.Len(), env.Len())
				}
			})
		}
	}
}

func TestRenderUnknownFormat(t *testing.T) {
	err := Render(io.Discard, "tcsh", []Var{{Name: "A", Value: "b"}}, nil)
	if err == nil || !strings.Contains(err.Error(), `"tcsh"`) || !strings.Contains(err.Error(), "fish") {
		t.Errorf("unknown format: %v", err)
	}
	if err := Render(io.Discard, GitHub, nil, nil); !errors.Is(err, ErrGitHubNeedsEnvFile) {
		t.Errorf("github through Render: %v, want ErrGitHubNeedsEnvFile", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestRenderWriteError(t *testing.T) {
	boom := errors.New("disk full")
	err := Render(failWriter{boom}, Bash, []Var{{Name: "A", Value: "secret-value"}}, nil)
	if !errors.Is(err, boom) || strings.Contains(err.Error(), "secret-value") {
		t.Errorf("write error: %v", err)
	}
}

// countingWriter proves that Render hands over its output in one Write, so
// a reader never sees half a script.
type countingWriter struct {
	writes int
	bytes.Buffer
}

func (w *countingWriter) Write(p []byte) (int, error) { w.writes++; return w.Buffer.Write(p) }

func TestRenderSingleWrite(t *testing.T) {
	for _, f := range renderFormats {
		var w countingWriter
		if err := Render(&w, f, validUTF8(nastyVars()), []string{"AWS_PROFILE"}); err != nil {
			t.Fatal(err)
		}
		if w.writes != 1 {
			t.Errorf("%s: %d writes, want 1", f, w.writes)
		}
	}
}

// TestRenderRoundTripReference reads every format back with the reference
// reader of its consumer and requires the exact values, and for the shell
// formats checks the order: removals first, then assignments as given.
func TestRenderRoundTripReference(t *testing.T) {
	all := nastyVars()
	unset := []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"}
	readers := map[Format]func([]byte) (env, error){Pwsh: readPwsh, Dotenv: readDotenv, JSON: readJSON}
	for f, read := range readers {
		t.Run(string(f), func(t *testing.T) {
			set := all
			if f == Pwsh || f == JSON {
				set = validUTF8(all)
			}
			var out bytes.Buffer
			if err := Render(&out, f, set, unset); err != nil {
				t.Fatal(err)
			}
			got, err := read(out.Bytes())
			if err != nil {
				t.Fatalf("reading back: %v", err)
			}
			compareEnv(t, got, set, unset, f == Pwsh)
		})
	}
}

func compareEnv(t *testing.T, got env, set []Var, unset []string, wantUnset bool) {
	t.Helper()
	if len(got.set) != len(set) {
		t.Errorf("read %d variables, want %d", len(got.set), len(set))
	}
	for _, v := range set {
		g, ok := got.set[v.Name]
		if !ok {
			t.Errorf("%s missing", v.Name)
		} else if g != v.Value {
			t.Errorf("%s = %s, want %s", v.Name, short([]byte(g)), short([]byte(v.Value)))
		}
	}
	for _, n := range unset {
		if got.unset[n] != wantUnset {
			t.Errorf("%s removed: %v, want %v", n, got.unset[n], wantUnset)
		}
	}
}

func TestRenderOrderAndEmpty(t *testing.T) {
	set := []Var{{Name: "ZED", Value: "1"}, {Name: "ALPHA", Value: "2"}}
	unset := []string{"UB", "UA"}
	for _, f := range []Format{Bash, Fish, Pwsh, Dotenv} {
		var out bytes.Buffer
		if err := Render(&out, f, set, unset); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		idx := func(sub string) int {
			i := strings.Index(s, sub)
			if i < 0 {
				t.Fatalf("%s: %q not in output %q", f, sub, s)
			}
			return i
		}
		if f != Dotenv && !(idx("UB") < idx("UA") && idx("UA") < idx("ZED") && idx("ZED") < idx("ALPHA")) {
			t.Errorf("%s: order is not unset-as-given then set-as-given: %q", f, s)
		}
		if f == Dotenv && (strings.Contains(s, "UA") || idx("ZED") > idx("ALPHA")) {
			t.Errorf("dotenv: %q", s)
		}
	}
	var out bytes.Buffer
	if err := Render(&out, JSON, set, unset); err != nil {
		t.Fatal(err)
	}
	if out.String() != `{"ALPHA":"2","ZED":"1"}`+"\n" {
		t.Errorf("json: %q, want sorted keys, unset omitted", out.String())
	}
	for _, f := range renderFormats {
		out.Reset()
		if err := Render(&out, f, nil, nil); err != nil {
			t.Fatal(err)
		}
		want := ""
		if f == JSON {
			want = "{}\n"
		}
		if out.String() != want {
			t.Errorf("%s with nothing to do: %q, want %q", f, out.String(), want)
		}
	}
}

// TestPwshAvoidsUnicodeQuotes pins the reason for escaping non-ASCII in
// pwsh: PowerShell ends a '…' string at U+2018–U+201B too.
func TestPwshAvoidsUnicodeQuotes(t *testing.T) {
	for _, v := range []string{"it\u2019s", "\u2018", "\u201b'", "\u201c\u201d\u201e", "'''"} {
		var out bytes.Buffer
		if err := Render(&out, Pwsh, []Var{{Name: "V", Value: v}}, nil); err != nil {
			t.Fatal(err)
		}
		s := strings.TrimPrefix(strings.TrimSuffix(out.String(), "\n"), "$env:V = ")
		// Count the quotes PowerShell sees, Unicode ones included.
		for _, r := range s {
			if r > 0x7e {
				t.Errorf("%q rendered with raw %U: %q", v, r, s)
			}
		}
		e, err := readPwsh(out.Bytes())
		if err != nil || e.set["V"] != v {
			t.Errorf("%q read back as %q, %v", v, e.set["V"], err)
		}
	}
	// The reference reader itself must honour the Unicode quotes, or the
	// test above would prove nothing.
	if got, _, err := pwshString([]rune("'it\u2019\u2019s'")); err != nil || got != "it\u2019s" {
		t.Errorf("reader: doubled U+2019: %q, %v", got, err)
	}
	if _, tail, _ := pwshString([]rune("'it\u2019s'")); string(tail) != "s'" {
		t.Errorf("reader: U+2019 must end the string, tail %q", string(tail))
	}
}

func TestGitHub(t *testing.T) {
	set := nastyVars()
	set = validUTF8(set)
	unset := []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"}
	var out, file bytes.Buffer
	if err := RenderGitHub(&out, &file, set, unset); err != nil {
		t.Fatal(err)
	}
	for _, windows := range []bool{false, true} {
		got, err := readGitHubEnv(file.Bytes(), windows)
		if err != nil {
			t.Fatalf("windows=%v: %v", windows, err)
		}
		for _, v := range set {
			want := v.Value
			if windows {
				// Documented: a Windows runner reads the CR that ends a
				// value as part of the line end.
				want = strings.TrimSuffix(want, "\r")
			}
			if got.set[v.Name] != want {
				t.Errorf("windows=%v: %s = %s, want %s", windows, v.Name, short([]byte(got.set[v.Name])), short([]byte(want)))
			}
		}
		for _, n := range unset {
			if g, ok := got.set[n]; !ok || g != "" {
				t.Errorf("unset %s: %q, %v; want empty", n, g, ok)
			}
		}
	}
	masks, err := readGitHubMasks(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	masked := map[string]bool{}
	for _, m := range masks {
		if masked[m] {
			t.Errorf("mask %q given twice", m)
		}
		masked[m] = true
	}
	for _, v := range set {
		for _, line := range strings.FieldsFunc(v.Value, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if strings.TrimSpace(line) == "" {
				continue
			}
			if v.Secret && !masked[line] {
				t.Errorf("%s: secret line %q not masked", v.Name, line)
			}
		}
	}
	for m := range masked {
		found := false
		for _, v := range set {
			found = found || v.Secret && strings.Contains(v.Value, m)
		}
		if !found {
			t.Errorf("mask %q is not a line of a secret value", m)
		}
		if strings.ContainsAny(m, "\r\n") {
			t.Errorf("mask %q spans lines; the runner masks line by line", m)
		}
	}
}

// fixedReader returns the same bytes forever: every delimiter is the same.
type fixedReader byte

func (r fixedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// seqReader hands out chunks in turn, then repeats the last.
type seqReader struct{ chunks [][]byte }

func (r *seqReader) Read(p []byte) (int, error) {
	c := r.chunks[0]
	if len(r.chunks) > 1 {
		r.chunks = r.chunks[1:]
	}
	return copy(p, c), nil
}

func TestGitHubDelimiterCollision(t *testing.T) {
	first := bytes.Repeat([]byte{0xaa}, 16)
	second := bytes.Repeat([]byte{0xbb}, 16)
	hostile := "x\n" + delimiterPrefix + strings.Repeat("aa", 16) + "\nEVIL=1"
	var out, file bytes.Buffer
	err := renderGitHub(&out, &file, []Var{{Name: "V", Value: hostile}}, nil, &seqReader{chunks: [][]byte{first, second}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(file.String(), "V<<"+delimiterPrefix+strings.Repeat("bb", 16)+"\n") {
		t.Errorf("delimiter not re-picked: %q", file.String())
	}
	got, err := readGitHubEnv(file.Bytes(), false)
	if err != nil || got.set["V"] != hostile || len(got.set) != 1 {
		t.Errorf("read back %q, %v", got.set, err)
	}
	// A source that keeps producing the colliding delimiter must fail
	// rather than write something the runner would cut short.
	file.Reset()
	out.Reset()
	err = renderGitHub(&out, &file, []Var{{Name: "V", Value: hostile, Secret: true}}, nil, fixedReader(0xaa))
	if err == nil || strings.Contains(err.Error(), "EVIL") {
		t.Errorf("endless collision: %v", err)
	}
	if file.Len() > 0 || out.Len() > 0 {
		t.Errorf("wrote %d+%d bytes before failing", out.Len(), file.Len())
	}
	// A delimiter is fresh per variable and per call.
	file.Reset()
	if err := RenderGitHub(io.Discard, &file, []Var{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(file.String(), "\n")
	if lines[0][len("A<<"):] == lines[3][len("B<<"):] {
		t.Errorf("same delimiter twice: %q", file.String())
	}
}

func TestWriteGitHub(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "set_env_x")
	if err := os.WriteFile(path, []byte("EARLIER=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	set := []Var{{Name: "AWS_SECRET_ACCESS_KEY", Value: "wJalr%XUtn\nline2", Secret: true}, {Name: "AWS_REGION", Value: "eu-west-1"}}
	if err := WriteGitHub(&out, path, set, []string{"AWS_PROFILE"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "::add-mask::wJalr%25XUtn\n::add-mask::line2\n" {
		t.Errorf("masks: %q", out.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readGitHubEnv(b, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"EARLIER": "1", "AWS_PROFILE": "", "AWS_SECRET_ACCESS_KEY": "wJalr%XUtn\nline2", "AWS_REGION": "eu-west-1"}
	if !maps(got.set, want) {
		t.Errorf("GITHUB_ENV file holds %q, want %q", got.set, want)
	}
	// A path the user chose that does not exist yet gets mode 0600.
	fresh := filepath.Join(dir, "fresh")
	if err := WriteGitHub(io.Discard, fresh, set, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new GITHUB_ENV file: %v, %v", fi.Mode(), err)
	}
	if err := WriteGitHub(io.Discard, "", set, nil); err == nil || !strings.Contains(err.Error(), "GITHUB_ENV is not set") {
		t.Errorf("empty path: %v", err)
	}
	// Nothing goes to stdout when the file cannot be opened.
	out.Reset()
	if err := WriteGitHub(&out, filepath.Join(dir, "missing", "dir", "f"), set, nil); err == nil || out.Len() > 0 {
		t.Errorf("unopenable file: %v, stdout %q", err, out.String())
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// goldenInput is small enough to read in a review and covers every escape.
func goldenInput() ([]Var, []string) {
	return []Var{
			{Name: "JIT_TARGET", Value: "prod"},
			{Name: "AWS_ACCESS_KEY_ID", Value: "ASIAEXAMPLE"},
			{Name: "AWS_SECRET_ACCESS_KEY", Value: "wJalr/K7MDENG+bPxRfiCY", Secret: true},
			{Name: "QUOTES", Value: `it's "quoted" \ and ` + "`tick`"},
			{Name: "DOLLAR", Value: "$HOME ${X} $(id) %PATH% !!"},
			{Name: "LINES", Value: "line1\nline2\r\nend\n", Secret: true},
			{Name: "TAB", Value: "a\tb"},
			{Name: "DASH", Value: "-n"},
			{Name: "UNICODE", Value: "p\u00e4\u00df \u2018q\u2019 \u201cd\u201d \U0001F511"},
			{Name: "EMPTY", Value: ""},
		},
		[]string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"}
}

func TestGolden(t *testing.T) {
	set, unset := goldenInput()
	outputs := map[string][]byte{}
	for _, f := range renderFormats {
		var out bytes.Buffer
		if err := Render(&out, f, set, unset); err != nil {
			t.Fatal(err)
		}
		outputs[string(f)+".txt"] = out.Bytes()
	}
	var stdout, file bytes.Buffer
	if err := renderGitHub(&stdout, &file, set, unset, fixedReader(0x5a)); err != nil {
		t.Fatal(err)
	}
	outputs["github.stdout.txt"], outputs["github.env.txt"] = stdout.Bytes(), file.Bytes()
	for name, got := range outputs {
		path := filepath.Join("testdata", "golden", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, got)
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the golden file (run with -update after checking the change):\n got: %q\nwant: %q", name, got, want)
		}
	}
	if !bytes.Equal(outputs["bash.txt"], outputs["zsh.txt"]) {
		t.Error("bash and zsh output differ")
	}
}

// FuzzRenderReference renders an arbitrary value in every format whose
// consumer is not installed here and reads it back with the reference
// reader: pwsh, dotenv, json and GitHub Actions (Linux and Windows runner
// line ends, plus masks).
func FuzzRenderReference(f *testing.F) {
	for _, v := range append(slices.Clone(nastyValues), allBytes(), reversed(allBytes())) {
		f.Add(v, true)
	}
	f.Fuzz(func(t *testing.T, value string, secret bool) {
		set := []Var{{Name: "V", Value: value, Secret: secret}, {Name: "W", Value: "after"}}
		unset := []string{"GONE"}
		hasNUL := strings.IndexByte(value, 0) >= 0
		valid := utf8.ValidString(value)
		check := func(f Format, err error, needUTF8 bool) bool {
			t.Helper()
			if hasNUL || needUTF8 && !valid {
				if err == nil {
					t.Fatalf("%s: accepted a value with NUL or invalid UTF-8", f)
				}
				checkNoValueInError(t, err, value)
				return false
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			return true
		}
		for f, read := range map[Format]func([]byte) (env, error){Pwsh: readPwsh, Dotenv: readDotenv, JSON: readJSON} {
			var out bytes.Buffer
			if !check(f, Render(&out, f, set, unset), f != Dotenv) {
				continue
			}
			got, err := read(out.Bytes())
			if err != nil {
				t.Fatalf("%s: reading back %q: %v", f, out.Bytes(), err)
			}
			if got.set["V"] != value || got.set["W"] != "after" || len(got.set) != 2 {
				t.Fatalf("%s: read back %q from %q", f, got.set, out.Bytes())
			}
		}
		var out, file bytes.Buffer
		if !check(GitHub, RenderGitHub(&out, &file, set, unset), true) {
			return
		}
		for _, windows := range []bool{false, true} {
			got, err := readGitHubEnv(file.Bytes(), windows)
			want := value
			if windows {
				want = strings.TrimSuffix(value, "\r")
			}
			if err != nil || got.set["V"] != want || got.set["W"] != "after" || got.set["GONE"] != "" || len(got.set) != 3 {
				t.Fatalf("github windows=%v: read back %q, %v from %q", windows, got.set, err, file.Bytes())
			}
		}
		masks, err := readGitHubMasks(out.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		if secret {
			for _, l := range strings.FieldsFunc(value, func(r rune) bool { return r == '\n' || r == '\r' }) {
				if strings.TrimSpace(l) != "" && !slices.Contains(want, l) {
					want = append(want, l)
				}
			}
		}
		if !slices.Equal(masks, want) {
			t.Fatalf("masks %q, want %q", masks, want)
		}
	})
}

// BenchmarkRender renders a typical AWS grant: the JIT variables, region and
// static credentials with a session token of realistic length, and two
// variables to remove.
func BenchmarkRender(b *testing.B) {
	set := []Var{
		{Name: "AWS_ACCESS_KEY_ID", Value: "ASIAIOSFODNN7EXAMPLE"},
		{Name: "AWS_SECRET_ACCESS_KEY", Value: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", Secret: true},
		{Name: "AWS_SESSION_TOKEN", Value: "IQoJb3JpZ2luX2VjE" + strings.Repeat("JrAVCXVzLWVhc3QtMSJHMEUCIQD/+abc", 28) + "==", Secret: true},
		{Name: "AWS_CREDENTIAL_EXPIRATION", Value: "2026-05-01T13:04:05Z"},
		{Name: "AWS_REGION", Value: "eu-west-1"},
		{Name: "AWS_DEFAULT_REGION", Value: "eu-west-1"},
		{Name: "JIT_REQUEST_ID", Value: "01JABCDEF0123456789XYZ"},
	}
	unset := []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"}
	for _, f := range renderFormats {
		b.Run(string(f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Render(io.Discard, f, set, unset); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("github", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := RenderGitHub(io.Discard, io.Discard, set, unset); err != nil {
				b.Fatal(err)
			}
		}
	})
}
