package shellenv

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// delimiterPrefix is the prefix GitHub's own toolkit (@actions/core) uses for
// heredoc delimiters in $GITHUB_ENV.
const delimiterPrefix = "ghadelimiter_"

// maxDelimiterTries bounds the re-picks of a delimiter that occurs in a
// value; 128 random bits make even a second try all but impossible.
const maxDelimiterTries = 16

// RenderGitHub hands the variables to the later steps of a GitHub Actions job.
//
// To stdout it writes one `::add-mask::` workflow command for every line of
// every Secret value (the runner masks log lines, so a multi-line secret is
// masked line by line; blank lines cannot be masked and are skipped), with
// `%`, CR and LF escaped as the runner expects. The masks come first, so
// they are registered before any value can reach a log.
//
// To envFile it appends, for each name in unset, `NAME=` (GitHub cannot
// remove a variable, so it becomes empty), then for each set variable
//
//	NAME<<ghadelimiter_<32 random hex digits>
//	value
//	ghadelimiter_<same digits>
//
// with a delimiter that does not occur anywhere in the value (re-picked if it
// does). The runner takes the value as the exact text between the two lines,
// CR included on Linux and macOS runners; a Windows runner drops a CR that
// ends the value, since it reads CRLF as one line end. Values must be valid
// UTF-8, as the runner decodes the file and its stdout as UTF-8.
//
// Everything is validated before anything is written, and envFile receives a
// single Write, so a refused or failed call never leaves a half-written
// heredoc that would make the runner reject the whole file.
func RenderGitHub(stdout io.Writer, envFile io.Writer, set []Var, unset []string) error {
	return renderGitHub(stdout, envFile, set, unset, rand.Reader)
}

// WriteGitHub is RenderGitHub with the assignments appended to the file at
// envPath, normally the value of $GITHUB_ENV.
func WriteGitHub(stdout io.Writer, envPath string, set []Var, unset []string) error {
	if envPath == "" {
		return errors.New("GITHUB_ENV is not set: the github format works only inside a GitHub Actions step; use --shell bash or json elsewhere")
	}
	masks, env, err := buildGitHub(set, unset, rand.Reader)
	if err != nil {
		return err
	}
	// The runner creates the file; O_CREATE only matters for a path the user
	// chose, which then gets the mode of a file holding secrets.
	f, err := os.OpenFile(envPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open GITHUB_ENV file: %w", err)
	}
	if _, err := stdout.Write(masks); err != nil {
		_ = f.Close()
		return fmt.Errorf("write github masks: %w", err)
	}
	if _, err := f.Write(env); err != nil {
		_ = f.Close()
		return fmt.Errorf("append to GITHUB_ENV file %s: %w", envPath, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close GITHUB_ENV file %s: %w", envPath, err)
	}
	return nil
}

func renderGitHub(stdout, envFile io.Writer, set []Var, unset []string, rnd io.Reader) error {
	masks, env, err := buildGitHub(set, unset, rnd)
	if err != nil {
		return err
	}
	if _, err := stdout.Write(masks); err != nil {
		return fmt.Errorf("write github masks: %w", err)
	}
	if _, err := envFile.Write(env); err != nil {
		return fmt.Errorf("write github environment file: %w", err)
	}
	return nil
}

func buildGitHub(set []Var, unset []string, rnd io.Reader) (masks, env []byte, err error) {
	if err := validate(GitHub, set, unset); err != nil {
		return nil, nil, err
	}
	var m, e bytes.Buffer
	e.Grow(estimate(set, unset) + len(set)*2*(len(delimiterPrefix)+32))
	seen := make(map[string]struct{})
	for _, v := range set {
		if !v.Secret {
			continue
		}
		for _, line := range splitLines(v.Value) {
			if strings.TrimSpace(line) == "" {
				continue
			}
			if _, dup := seen[line]; dup {
				continue
			}
			seen[line] = struct{}{}
			m.WriteString("::add-mask::")
			m.WriteString(escapeCommandData(line))
			m.WriteByte('\n')
		}
	}
	for _, name := range unset {
		e.WriteString(name)
		e.WriteString("=\n")
	}
	for _, v := range set {
		d, err := pickDelimiter(v.Value, rnd)
		if err != nil {
			return nil, nil, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		e.WriteString(v.Name)
		e.WriteString("<<")
		e.WriteString(d)
		e.WriteByte('\n')
		e.WriteString(v.Value)
		e.WriteByte('\n')
		e.WriteString(d)
		e.WriteByte('\n')
	}
	return m.Bytes(), e.Bytes(), nil
}

func pickDelimiter(value string, rnd io.Reader) (string, error) {
	var raw [16]byte
	for range maxDelimiterTries {
		if _, err := io.ReadFull(rnd, raw[:]); err != nil {
			return "", fmt.Errorf("pick heredoc delimiter: %w", err)
		}
		d := delimiterPrefix + hex.EncodeToString(raw[:])
		if !strings.Contains(value, d) {
			return d, nil
		}
	}
	return "", errors.New("pick heredoc delimiter: every random delimiter occurred in the value")
}

// splitLines splits at LF, CRLF and lone CR: the runner masks each line of
// its log, and a line shown in the log ends at any of them.
func splitLines(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' })
}

// escapeCommandData escapes the data of a workflow command the way
// @actions/core does; the runner undoes %0D, %0A and then %25.
func escapeCommandData(s string) string {
	if !strings.ContainsAny(s, "%\r\n") {
		return s
	}
	s = strings.ReplaceAll(s, "%", "%25")
	s = strings.ReplaceAll(s, "\r", "%0D")
	return strings.ReplaceAll(s, "\n", "%0A")
}
