// Package shellenv renders the environment of an elevated session as text
// that a shell, a dotenv parser, a tool reading JSON, or GitHub Actions turns
// back into exactly the same variables, whatever bytes the values hold.
//
// Every format is a pure function of its input: the same variables always
// produce the same bytes (GitHub's random heredoc delimiter aside), so output
// can be compared against golden files. Render validates everything before it
// writes anything, so a refused value never leaves half a script behind for
// `eval` to run.
//
// Formats:
//
//   - bash (also zsh and POSIX sh): `unset -v NAME…` then `export NAME='…'`.
//     POSIX single quotes carry every byte but NUL; a `'` in the value is
//     written as `\'` outside the quotes. `-v` keeps `unset` from removing a
//     shell function of the same name when no variable exists. Only an empty
//     value is written as two adjacent quotes, so zsh's RC_QUOTES option
//     cannot change the meaning. Use: eval "$(jit env prod)".
//   - zsh: the same text as bash.
//   - fish: `set -e -g NAME` then `set -gx NAME '…'`, single quotes with `\\`
//     and `\'` escaped (the only escapes fish knows inside single quotes).
//     Erasing names the global scope on purpose: a bare `set -e` erases a
//     universal variable (`set -Ux`) when no global exists, which would change
//     the user's configuration in every fish session for good. A universal
//     variable of that name therefore stays visible. Use:
//     jit env prod --shell fish | source.
//   - pwsh: `Remove-Item Env:NAME -ErrorAction SilentlyContinue` and
//     `$env:NAME = …`. Every statement is one line of printable ASCII, because
//     `… | Invoke-Expression` runs each line of a native command's output on
//     its own and decodes it with the console code page. Values of printable
//     ASCII are single-quoted with `'` doubled. Any other value is a
//     double-quoted string in which a backtick escapes newline (`n), carriage
//     return (`r), tab (`t), "$", the double quote and the backtick itself,
//     and `$([char]0xHHHH)` stands for every other character (UTF-16 code
//     units, which Windows PowerShell 5.1 understands too). So the Unicode
//     quotes U+2018–U+201B and U+201C–U+201E, which PowerShell also ends
//     strings at, never appear raw. Values must be valid UTF-8, as PowerShell
//     strings are UTF-16. Before PowerShell 7.5, assigning the empty string
//     removes the variable instead.
//   - dotenv: `NAME="…"`, one line per variable, with `\\`, `\"`, `\$`, `\n`
//     (newline) and `\r` (carriage return) escaped and every other byte
//     literal: the double-quoted convention of Ruby's dotenv (bkeepers) and
//     Go's joho/godotenv. Unset variables are omitted. Known gaps in readers:
//     joho/godotenv 1.5 cannot read a value that ends in `\` or `"` (it treats
//     a quote after a backslash as escaped and trims every trailing quote);
//     Node's motdotla/dotenv unescapes only `\n` and `\r` (and `\$` with
//     dotenv-expand); python-dotenv keeps the backslash of `\$` and still
//     expands a `${…}` after it; `docker --env-file` does not parse quotes.
//   - json: one object {"NAME":"value",…} of the set variables with sorted
//     keys and a trailing newline. Values must be valid UTF-8, since JSON
//     would otherwise replace bytes silently.
//   - github: see RenderGitHub; Render refuses it because it needs two
//     destinations.
//
// No error message ever contains a value: values may be secrets.
package shellenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/jitaccess/jit/providers"
)

// Format names an output syntax for `jit env --shell`.
type Format string

// The formats Render and RenderGitHub know.
const (
	Bash   Format = "bash"
	Zsh    Format = "zsh"
	Fish   Format = "fish"
	Pwsh   Format = "pwsh"
	Dotenv Format = "dotenv"
	JSON   Format = "json"
	GitHub Format = "github"
)

// Var is one variable to set; it is providers.EnvVar so that a grant's Env
// can be passed as is. Secret only matters to RenderGitHub, which masks it.
type Var = providers.EnvVar

// ErrGitHubNeedsEnvFile is returned by Render for the github format, whose
// assignments go to the file named by $GITHUB_ENV rather than to stdout.
var ErrGitHubNeedsEnvFile = errors.New("the github format writes to the file named by $GITHUB_ENV: use RenderGitHub or WriteGitHub")

// Formats returns the canonical format names in the order help text shows them.
func Formats() []string {
	return []string{string(Bash), string(Zsh), string(Fish), string(Pwsh), string(Dotenv), string(JSON), string(GitHub)}
}

// ParseFormat returns the format named s (case-insensitive). It also accepts
// "sh" for bash and "powershell" for pwsh, the names people type by habit.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case Bash, Zsh, Fish, Pwsh, Dotenv, JSON, GitHub:
		return f, nil
	case "sh":
		return Bash, nil
	case "powershell":
		return Pwsh, nil
	}
	return "", fmt.Errorf("unknown shell format %q: use one of %s", s, strings.Join(Formats(), ", "))
}

// FormatForShell picks the format for the user's shell from a path such as
// $SHELL: zsh, fish and pwsh/powershell by their base name (ignoring a
// version suffix, a leading "-" of a login shell and ".exe"), bash for
// anything else. An empty path on Windows, where $SHELL is usually unset,
// means pwsh.
func FormatForShell(shellPath string) Format {
	return formatForShell(shellPath, runtime.GOOS)
}

func formatForShell(shellPath, goos string) Format {
	if strings.TrimSpace(shellPath) == "" {
		if goos == "windows" {
			return Pwsh
		}
		return Bash
	}
	// Split at both separators: $SHELL may hold a Windows path, which
	// filepath would not split on Unix.
	base := shellPath
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	base = strings.ToLower(strings.TrimPrefix(base, "-"))
	base = strings.TrimSuffix(base, ".exe")
	switch {
	case strings.HasPrefix(base, "zsh"):
		return Zsh
	case strings.HasPrefix(base, "fish"):
		return Fish
	case strings.HasPrefix(base, "pwsh"), strings.HasPrefix(base, "powershell"):
		return Pwsh
	}
	return Bash
}

// Render writes to w the statements that remove the variables in unset and
// then set those in set, in the given order, in format f. It validates every
// name and value first and writes nothing when one is refused: names must
// match [A-Za-z_][A-Za-z0-9_]*, a name may be set only once, and values may
// not hold NUL (no environment can) nor, for pwsh and json, invalid UTF-8.
// The whole output goes to w in a single Write.
func Render(w io.Writer, f Format, set []Var, unset []string) error {
	var b bytes.Buffer
	if err := render(&b, f, set, unset); err != nil {
		return err
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write %s environment: %w", f, err)
	}
	return nil
}

func render(b *bytes.Buffer, f Format, set []Var, unset []string) error {
	switch f {
	case Bash, Zsh, Fish, Pwsh, Dotenv, JSON:
	case GitHub:
		return ErrGitHubNeedsEnvFile
	default:
		return fmt.Errorf("unknown shell format %q: use one of %s", string(f), strings.Join(Formats(), ", "))
	}
	if err := validate(f, set, unset); err != nil {
		return err
	}
	b.Grow(estimate(set, unset))
	switch f {
	case Bash, Zsh:
		renderPOSIX(b, set, unset)
	case Fish:
		renderFish(b, set, unset)
	case Pwsh:
		renderPwsh(b, set, unset)
	case Dotenv:
		renderDotenv(b, set)
	case JSON:
		return renderJSON(b, set)
	}
	return nil
}

func estimate(set []Var, unset []string) int {
	n := 0
	for _, v := range set {
		n += len(v.Name) + len(v.Value) + 24
	}
	for _, u := range unset {
		n += len(u) + 48
	}
	return n
}

// validate checks what every format needs, plus UTF-8 where f cannot carry
// other bytes. Errors name the variable and never include its value.
func validate(f Format, set []Var, unset []string) error {
	for _, name := range unset {
		if err := checkName(name); err != nil {
			return err
		}
	}
	seen := make(map[string]struct{}, len(set))
	needUTF8 := f == Pwsh || f == JSON || f == GitHub
	for _, v := range set {
		if err := checkName(v.Name); err != nil {
			return err
		}
		if _, dup := seen[v.Name]; dup {
			return fmt.Errorf("variable %s is set twice: give each variable once", v.Name)
		}
		seen[v.Name] = struct{}{}
		if strings.IndexByte(v.Value, 0) >= 0 {
			return fmt.Errorf("variable %s: value contains a NUL byte, which no environment can hold", v.Name)
		}
		if needUTF8 && !utf8.ValidString(v.Value) {
			if f == GitHub {
				return fmt.Errorf("variable %s: value is not valid UTF-8, which GitHub Actions cannot carry exactly", v.Name)
			}
			return fmt.Errorf("variable %s: value is not valid UTF-8, which the %s format cannot carry exactly: use bash, zsh, fish or dotenv", v.Name, f)
		}
	}
	return nil
}

func checkName(name string) error {
	if name == "" {
		return errors.New("empty variable name: names must match [A-Za-z_][A-Za-z0-9_]*")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return fmt.Errorf("invalid variable name %q: names must match [A-Za-z_][A-Za-z0-9_]*", name)
	}
	return nil
}

func renderPOSIX(b *bytes.Buffer, set []Var, unset []string) {
	if len(unset) > 0 {
		b.WriteString("unset -v")
		for _, name := range unset {
			b.WriteByte(' ')
			b.WriteString(name)
		}
		b.WriteByte('\n')
	}
	for _, v := range set {
		b.WriteString("export ")
		b.WriteString(v.Name)
		b.WriteByte('=')
		posixQuote(b, v.Value)
		b.WriteByte('\n')
	}
}

// posixQuote writes v as runs of single-quoted text joined by \' for each
// quote. Only the empty value becomes a pair of adjacent quotes, so zsh's
// RC_QUOTES option, which reads two adjacent quotes inside a quoted string
// as one literal quote, cannot change the meaning.
func posixQuote(b *bytes.Buffer, v string) {
	if v == "" {
		b.WriteString("''")
		return
	}
	for v != "" {
		i := strings.IndexByte(v, '\'')
		if i < 0 {
			i = len(v)
		}
		if i > 0 {
			b.WriteByte('\'')
			b.WriteString(v[:i])
			b.WriteByte('\'')
		}
		if i == len(v) {
			return
		}
		b.WriteString(`\'`)
		v = v[i+1:]
	}
}

func renderFish(b *bytes.Buffer, set []Var, unset []string) {
	for _, name := range unset {
		b.WriteString("set -e -g ")
		b.WriteString(name)
		b.WriteString(";\n")
	}
	for _, v := range set {
		b.WriteString("set -gx ")
		b.WriteString(v.Name)
		b.WriteByte(' ')
		fishQuote(b, v.Value)
		b.WriteString(";\n")
	}
}

func fishQuote(b *bytes.Buffer, v string) {
	b.WriteByte('\'')
	for {
		i := strings.IndexAny(v, `\'`)
		if i < 0 {
			break
		}
		b.WriteString(v[:i])
		b.WriteByte('\\')
		b.WriteByte(v[i])
		v = v[i+1:]
	}
	b.WriteString(v)
	b.WriteByte('\'')
}

func renderPwsh(b *bytes.Buffer, set []Var, unset []string) {
	for _, name := range unset {
		b.WriteString("Remove-Item Env:")
		b.WriteString(name)
		b.WriteString(" -ErrorAction SilentlyContinue\n")
	}
	for _, v := range set {
		b.WriteString("$env:")
		b.WriteString(v.Name)
		b.WriteString(" = ")
		pwshQuote(b, v.Value)
		b.WriteByte('\n')
	}
}

// pwshQuote writes v as a PowerShell string expression of printable ASCII
// on one line; validate has made sure v is valid UTF-8.
func pwshQuote(b *bytes.Buffer, v string) {
	plain := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e {
			plain = false
			break
		}
	}
	if plain {
		b.WriteByte('\'')
		for {
			i := strings.IndexByte(v, '\'')
			if i < 0 {
				break
			}
			b.WriteString(v[:i+1])
			b.WriteByte('\'')
			v = v[i+1:]
		}
		b.WriteString(v)
		b.WriteByte('\'')
		return
	}
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '`', r == '"', r == '$':
			b.WriteByte('`')
			b.WriteByte(byte(r))
		case r == '\n':
			b.WriteString("`n")
		case r == '\r':
			b.WriteString("`r")
		case r == '\t':
			b.WriteString("`t")
		case r >= 0x20 && r < 0x7f:
			b.WriteByte(byte(r))
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			pwshChar(b, hi)
			pwshChar(b, lo)
		default:
			pwshChar(b, r)
		}
	}
	b.WriteByte('"')
}

func pwshChar(b *bytes.Buffer, r rune) {
	fmt.Fprintf(b, "$([char]0x%04X)", r)
}

func renderDotenv(b *bytes.Buffer, set []Var) {
	for _, v := range set {
		b.WriteString(v.Name)
		b.WriteString(`="`)
		val := v.Value
		for {
			i := strings.IndexAny(val, "\\\"$\n\r")
			if i < 0 {
				break
			}
			b.WriteString(val[:i])
			switch c := val[i]; c {
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			default:
				b.WriteByte('\\')
				b.WriteByte(c)
			}
			val = val[i+1:]
		}
		b.WriteString(val)
		b.WriteString("\"\n")
	}
}

func renderJSON(b *bytes.Buffer, set []Var) error {
	m := make(map[string]string, len(set))
	for _, v := range set {
		m[v.Name] = v.Value
	}
	enc := json.NewEncoder(b)
	// Values are credentials, not HTML: keep "<", ">" and "&" readable.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		// Unreachable for a map of strings; the error would not hold a value.
		return fmt.Errorf("encode json environment: %w", err)
	}
	return nil
}
