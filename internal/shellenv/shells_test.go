package shellenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// realShell describes how to eval rendered output in an installed shell and
// dump what the shell then holds. Everything runs with `env -i`-like
// environments (PATH, HOME in a temp dir, optionally LANG) and without rc files.
type realShell struct {
	name   string // as reported in test names
	bin    string // executable looked up in PATH
	format Format
	args   []string // flags before the -c script
	// eval is the statement that evals the rendered file p.in, where p is a
	// shell word ('…' or "$f") for a path prefix; it sends the statement's
	// stderr to p.err.
	eval func(p string) string
	// dump writes the shell's value of name to p.val, a child's to p.env and
	// "set" or "unset" to p.gone.
	dump func(name, p string) string
	// isSet writes only "set" or "unset" to p.gone, without forking.
	isSet func(name, p string) string
	// loop wraps one round (reading a path prefix per line) for the
	// long-lived fuzz shell.
	loop func(body string) string
}

func posixShell(name, bin string, f Format, args []string) realShell {
	return realShell{
		name: name, bin: bin, format: f, args: args,
		eval: func(p string) string {
			return fmt.Sprintf(`eval "$(cat %[1]s.in)" 2>%[1]s.err`, p)
		},
		dump: func(n, p string) string {
			return fmt.Sprintf(`printf '%%s' "$%[1]s" >%[2]s.val; printenv %[1]s >%[2]s.env`, n, p) + "\n" + posixIsSet(n, p)
		},
		isSet: posixIsSet,
		loop: func(body string) string {
			return "while IFS= read -r f; do\n" + body + "\necho done\ndone\n"
		},
	}
}

func posixIsSet(n, p string) string {
	return fmt.Sprintf(`if [ -n "${%[1]s+x}" ]; then echo set; else echo unset; fi >%[2]s.gone`, n, p)
}

func fishIsSet(n, p string) string {
	return fmt.Sprintf("if set -q %[1]s; echo set; else; echo unset; end >%[2]s.gone", n, p)
}

func realShells() []realShell {
	return []realShell{
		posixShell("bash", "bash", Bash, []string{"--norc", "--noprofile"}),
		// dash is /bin/sh on Debian: the POSIX floor the bash format promises.
		posixShell("sh", "dash", Bash, nil),
		posixShell("zsh", "zsh", Zsh, []string{"-f"}),
		{
			name: "fish", bin: "fish", format: Fish, args: []string{"--no-config"},
			eval: func(p string) string {
				return fmt.Sprintf(`source %[1]s.in 2>%[1]s.err`, p)
			},
			dump: func(n, p string) string {
				return fmt.Sprintf("printf '%%s' \"$%[1]s\" >%[2]s.val; printenv %[1]s >%[2]s.env", n, p) + "\n" + fishIsSet(n, p)
			},
			isSet: fishIsSet,
			loop: func(body string) string {
				return "while read -l f\n" + body + "\necho done\nend\n"
			},
		},
	}
}

func shellByName(t *testing.T, name string) realShell {
	t.Helper()
	for _, sh := range realShells() {
		if sh.name == name {
			return sh
		}
	}
	t.Fatalf("no shell %s", name)
	return realShell{}
}

// locales: the C locale that `env -i` gives, and the UTF-8 locale users run.
var locales = []string{"", "C.UTF-8"}

func shellEnv(home, lang string, extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	if lang != "" {
		env = append(env, "LANG="+lang, "LC_ALL="+lang)
	}
	return append(env, extra...)
}

type dumped struct {
	val, env, gone, stderr []byte
}

func readDump(out string) (dumped, error) {
	var d dumped
	var errs []error
	read := func(ext string) []byte {
		b, err := os.ReadFile(out + ext)
		errs = append(errs, err)
		return b
	}
	d.val, d.env, d.gone = read(".val"), read(".env"), read(".gone")
	// .err only exists where the shell evaluated something.
	d.stderr, _ = os.ReadFile(out + ".err")
	return d, errors.Join(errs...)
}

// check compares what the shell holds with the wanted value. Its messages
// quote values, which is fine for test data and only for test data.
func (d dumped) check(want string, wantSet bool) error {
	var problems []string
	if len(d.stderr) > 0 {
		problems = append(problems, fmt.Sprintf("stderr %s", short(d.stderr)))
	}
	if wantSet {
		if string(d.val) != want {
			problems = append(problems, fmt.Sprintf("shell value %s, want %s", short(d.val), short([]byte(want))))
		}
		if string(d.env) != want+"\n" {
			problems = append(problems, fmt.Sprintf("child environment %s, want %s", short(d.env), short([]byte(want+"\n"))))
		}
		if string(d.gone) != "set\n" {
			problems = append(problems, fmt.Sprintf("variable is %q, want set", d.gone))
		}
	} else if string(d.gone) != "unset\n" || len(d.env) != 0 || len(d.val) != 0 {
		problems = append(problems, fmt.Sprintf("not removed: shell says %q, value %s, child environment %s", d.gone, short(d.val), short(d.env)))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

// TestRealShells renders all nasty values at once, evals them in each real
// shell and locale, and compares every variable byte for byte, both as the
// shell sees it and as a child process inherits it. It also checks that
// variables in the unset list are gone, whether they came from the parent
// environment or were exported by an earlier statement.
func TestRealShells(t *testing.T) {
	set := nastyVars()
	unset := []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "JIT_SHADOW"}
	for _, sh := range realShells() {
		for _, lang := range locales {
			t.Run(sh.name+"/"+langName(lang), func(t *testing.T) {
				bin := lookShell(t, sh)
				dir := t.TempDir()
				var out bytes.Buffer
				if err := Render(&out, sh.format, set, unset); err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, "script")
				writeFile(t, p+".in", out.Bytes())
				var script strings.Builder
				// A variable exported earlier in the same shell, not only
				// one inherited from the parent, must be removed too.
				if sh.format == Fish {
					script.WriteString("set -gx JIT_SHADOW shadow\n")
				} else {
					script.WriteString("export JIT_SHADOW=shadow\n")
				}
				script.WriteString(sh.eval(quote(p)) + "\n")
				for _, v := range set {
					script.WriteString(sh.dump(v.Name, quote(filepath.Join(dir, v.Name))) + "\n")
				}
				for _, n := range unset {
					script.WriteString(sh.dump(n, quote(filepath.Join(dir, n))) + "\n")
				}
				runShell(t, bin, sh, dir, lang, script.String(), "AWS_PROFILE=dev", "AWS_DEFAULT_PROFILE=dev")
				for _, v := range set {
					d, err := readDump(filepath.Join(dir, v.Name))
					if err == nil {
						d.stderr, _ = os.ReadFile(p + ".err")
						err = d.check(v.Value, true)
					}
					if err != nil {
						t.Errorf("%s (value %d bytes): %v", v.Name, len(v.Value), err)
					}
				}
				for _, n := range unset {
					d, err := readDump(filepath.Join(dir, n))
					if err == nil {
						err = d.check("", false)
					}
					if err != nil {
						t.Errorf("unset %s: %v", n, err)
					}
				}
			})
		}
	}
}

// TestFishPipeSource checks the documented fish usage, `… | source`, which
// reads the script from stdin rather than from a file.
func TestFishPipeSource(t *testing.T) {
	sh := shellByName(t, "fish")
	bin := lookShell(t, sh)
	dir := t.TempDir()
	set := nastyVars()
	var out bytes.Buffer
	if err := Render(&out, Fish, set, []string{"AWS_PROFILE"}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "script")
	writeFile(t, p+".in", out.Bytes())
	var script strings.Builder
	fmt.Fprintf(&script, "cat '%[1]s.in' | source 2>'%[1]s.err'\n", p)
	for _, v := range append(set, Var{Name: "AWS_PROFILE"}) {
		script.WriteString(sh.dump(v.Name, quote(filepath.Join(dir, v.Name))) + "\n")
	}
	runShell(t, bin, sh, dir, "C.UTF-8", script.String(), "AWS_PROFILE=dev")
	for _, v := range set {
		d, err := readDump(filepath.Join(dir, v.Name))
		if err == nil {
			d.stderr, _ = os.ReadFile(p + ".err")
			err = d.check(v.Value, true)
		}
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
		}
	}
	if d, err := readDump(filepath.Join(dir, "AWS_PROFILE")); err != nil || d.check("", false) != nil {
		t.Errorf("AWS_PROFILE not removed: %v %v", err, d.check("", false))
	}
}

// TestFishKeepsUniversal shows why fish erases only the global scope: a
// universal variable is the user's persistent configuration. It is left in
// place (and stays visible) rather than deleted for every fish session.
func TestFishKeepsUniversal(t *testing.T) {
	sh := shellByName(t, "fish")
	bin := lookShell(t, sh)
	dir := t.TempDir()
	var out bytes.Buffer
	if err := Render(&out, Fish, nil, []string{"JIT_UNIVERSAL", "JIT_GLOBAL"}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "s.fish"), out.Bytes())
	// Universal variables need fish's config directory, so no --no-config;
	// HOME is an empty temp dir, so no rc file of the user runs.
	run := func(script string) string {
		cmd := exec.Command(bin, "-c", script)
		cmd.Dir, cmd.Env = dir, shellEnv(dir, "C.UTF-8", "JIT_GLOBAL=inherited", "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fish: %v: %s", err, b)
		}
		return string(b)
	}
	run("set -Ux JIT_UNIVERSAL persistent")
	got := run("source s.fish; printenv JIT_GLOBAL; or echo global-gone")
	if got != "global-gone\n" {
		t.Errorf("inherited global variable: got %q, want it removed", got)
	}
	got = run("printf '%s\\n' $JIT_UNIVERSAL")
	if got != "persistent\n" {
		t.Errorf("universal variable after a session that removed it: got %q, want it kept", got)
	}
}

// short quotes b for a message, cut to a readable length.
func short(b []byte) string {
	if len(b) > 120 {
		return fmt.Sprintf("%q… (%d bytes)", b[:120], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// quote makes a test path a word for every shell here; test paths hold no quotes.
func quote(path string) string { return "'" + path + "'" }

func langName(lang string) string {
	if lang == "" {
		return "C"
	}
	return lang
}

func lookShell(t testing.TB, sh realShell) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not starting real shells")
	}
	bin, err := exec.LookPath(sh.bin)
	if err != nil {
		t.Skipf("%s is not installed (%s not in PATH); install it to prove %s quoting", sh.name, sh.bin, sh.format)
	}
	return bin
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func runShell(t *testing.T, bin string, sh realShell, dir, lang, script string, extraEnv ...string) {
	t.Helper()
	args := append(append([]string{}, sh.args...), "-c", script)
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = dir, shellEnv(dir, lang, extraEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v: %s", sh.name, err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Errorf("%s stderr: %s", sh.name, stderr.Bytes())
	}
}

// liveShell is one long-lived shell that evals a rendered file per line it
// reads on stdin, so that fuzzing does not pay a shell start-up per input.
type liveShell struct {
	sh   realShell
	lang string
	bin  string
	dir  string

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *lockedBuffer
	n      int
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const fuzzName, goneName = "JIT_FUZZ", "JIT_FUZZ_GONE"

func (s *liveShell) start() error {
	export := "export " + goneName + "=present"
	if s.sh.format == Fish {
		export = "set -gx " + goneName + " present"
	}
	body := strings.Join([]string{export, s.sh.eval(`"$f"`), s.sh.dump(fuzzName, `"$f"`), s.sh.isSet(goneName, `"$f".g`)}, "\n")
	args := append(append([]string{}, s.sh.args...), "-c", s.sh.loop(body))
	cmd := exec.Command(s.bin, args...)
	cmd.Dir, cmd.Env = s.dir, shellEnv(s.dir, s.lang)
	s.stderr = &lockedBuffer{}
	cmd.Stderr = s.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.stdin, s.stdout = cmd, in, bufio.NewReader(out)
	return nil
}

func (s *liveShell) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.stdin.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// roundTrip evals script and returns what the shell then holds for
// JIT_FUZZ and JIT_FUZZ_GONE. A shell that died or hung is restarted on the
// next call.
func (s *liveShell) roundTrip(script []byte) (val, gone dumped, err error) {
	if s.cmd == nil {
		if err := s.start(); err != nil {
			return val, gone, err
		}
	}
	s.n++
	p := filepath.Join(s.dir, fmt.Sprintf("r%d", s.n))
	if err := os.WriteFile(p+".in", script, 0o600); err != nil {
		return val, gone, err
	}
	defer func() {
		for _, ext := range []string{".in", ".err", ".val", ".env", ".gone", ".g.val", ".g.env", ".g.gone"} {
			_ = os.Remove(p + ext)
		}
	}()
	line := make(chan string, 1)
	go func() {
		l, _ := s.stdout.ReadString('\n')
		line <- l
	}()
	if _, err := io.WriteString(s.stdin, p+"\n"); err != nil {
		s.kill()
		return val, gone, fmt.Errorf("%s died: %v; stderr: %s", s.sh.name, err, s.stderr.String())
	}
	select {
	case l := <-line:
		if l != "done\n" {
			s.kill()
			return val, gone, fmt.Errorf("%s answered %q; stderr: %s", s.sh.name, l, s.stderr.String())
		}
	case <-time.After(20 * time.Second):
		s.kill()
		return val, gone, fmt.Errorf("%s hung; stderr: %s", s.sh.name, s.stderr.String())
	}
	if val, err = readDump(p); err != nil {
		return val, gone, err
	}
	// Only the shell's view of JIT_FUZZ_GONE is checked here; its removal
	// from children's environments does not depend on the fuzzed value and
	// TestRealShells covers it.
	gone.gone, err = os.ReadFile(p + ".g.gone")
	return val, gone, err
}

func (s *liveShell) kill() {
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// FuzzRoundTripShells renders an arbitrary value for JIT_FUZZ (and an unset
// of JIT_FUZZ_GONE), evals it in long-lived bash, dash, zsh and fish
// processes in the C and C.UTF-8 locales, and requires the exact bytes back,
// in the shell and in a child's environment, and JIT_FUZZ_GONE removed.
// Values with NUL must be refused instead, without the value in the error.
func FuzzRoundTripShells(f *testing.F) {
	for _, v := range append(slices.Clone(nastyValues), allBytes(), reversed(allBytes())) {
		f.Add([]byte(v))
	}
	var shells []*liveShell
	var missing []string
	for _, sh := range realShells() {
		bin, err := exec.LookPath(sh.bin)
		if err != nil {
			missing = append(missing, sh.name)
			continue
		}
		for _, lang := range locales {
			shells = append(shells, &liveShell{sh: sh, lang: lang, bin: bin, dir: f.TempDir()})
		}
	}
	f.Cleanup(func() {
		for _, s := range shells {
			s.stop()
		}
	})
	if testing.Short() {
		f.Skip("-short: not starting real shells")
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		if len(missing) > 0 {
			t.Logf("not installed, not tested: %s", strings.Join(missing, ", "))
		}
		if len(shells) == 0 {
			t.Skip("no shell installed (bash, dash, zsh, fish)")
		}
		set := []Var{{Name: fuzzName, Value: string(value), Secret: true}}
		unset := []string{goneName}
		if bytes.IndexByte(value, 0) >= 0 {
			for _, f := range []Format{Bash, Fish} {
				err := Render(io.Discard, f, set, unset)
				if err == nil {
					t.Fatalf("%s: value with NUL accepted", f)
				}
				checkNoValueInError(t, err, string(value))
			}
			return
		}
		scripts := map[Format][]byte{}
		for _, s := range shells {
			script, ok := scripts[s.sh.format]
			if !ok {
				var b bytes.Buffer
				if err := Render(&b, s.sh.format, set, unset); err != nil {
					t.Fatalf("%s: %v", s.sh.format, err)
				}
				script = b.Bytes()
				scripts[s.sh.format] = script
			}
			val, gone, err := s.roundTrip(script)
			if err == nil {
				err = val.check(string(value), true)
			}
			if err == nil {
				err = gone.check("", false)
			}
			if err != nil {
				t.Fatalf("%s/%s: %v\nscript: %q", s.sh.name, langName(s.lang), err, script)
			}
		}
	})
}

func checkNoValueInError(t *testing.T, err error, value string) {
	t.Helper()
	// A value of a few bytes is found by chance in any message ("a", "e").
	if len(value) >= 4 && strings.Contains(err.Error(), value) {
		t.Fatalf("error message contains the value: %v", err)
	}
}
