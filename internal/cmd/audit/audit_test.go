package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/cmdutil/cmdtest"
	"github.com/jitaccess/jit/internal/config"
	"github.com/jitaccess/jit/internal/iostreams"
)

func TestNewCmdVerify(t *testing.T) {
	tests := []struct {
		args      []string
		wantFiles []string
		wantJSON  bool
		wantKeys  []string
		wantCopy  bool
		wantErr   string
	}{
		{args: nil},
		{args: []string{"/var/log/jit/audit.jsonl"}, wantFiles: []string{"/var/log/jit/audit.jsonl"}},
		{args: []string{"-"}, wantFiles: []string{"-"}},
		{args: []string{"--json", "x.jsonl"}, wantFiles: []string{"x.jsonl"}, wantJSON: true},
		{args: []string{"a", "b", "--copy"}, wantFiles: []string{"a", "b"}, wantCopy: true},
		{args: []string{"--key", "ssh-ed25519 AAAA x", "--key", "k.pub", "a"}, wantFiles: []string{"a"}, wantKeys: []string{"ssh-ed25519 AAAA x", "k.pub"}},
		{args: []string{"a", "-"}, wantErr: `"-" (stdin) cannot be combined with files`},
	}
	for _, tt := range tests {
		ios, _, _, _ := iostreams.Test()
		var got *VerifyOptions
		err := cmdtest.Execute(NewCmdVerify(&cmdutil.Factory{IOStreams: ios}, func(o *VerifyOptions) error { got = o; return nil }), tt.args...)
		if tt.wantErr != "" {
			var fe *cmdutil.FlagError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error = %v, want usage error %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got.Files, tt.wantFiles) || got.JSON != tt.wantJSON || !slices.Equal(got.Keys, tt.wantKeys) || got.Copy != tt.wantCopy {
			t.Errorf("%q: err %v, options %+v", tt.args, err, got)
		}
	}
}

func TestNewCmdTail(t *testing.T) {
	tests := []struct {
		args     []string
		wantN    int
		wantJSON bool
		wantErr  string
	}{
		{args: nil, wantN: 10},
		{args: []string{"-n", "3"}, wantN: 3},
		{args: []string{"--lines", "0", "--json"}, wantN: 0, wantJSON: true},
		{args: []string{"-n", "-1"}, wantErr: "-n must be zero or more, got -1"},
		{args: []string{"-n", "many"}, wantErr: `invalid argument "many"`},
		{args: []string{"5"}, wantErr: "takes no arguments"},
	}
	for _, tt := range tests {
		ios, _, _, _ := iostreams.Test()
		var got *TailOptions
		err := cmdtest.Execute(NewCmdTail(&cmdutil.Factory{IOStreams: ios}, func(o *TailOptions) error { got = o; return nil }), tt.args...)
		if tt.wantErr != "" {
			var fe *cmdutil.FlagError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error = %v, want usage error %q", tt.args, err, tt.wantErr)
			}
			if got != nil {
				t.Errorf("%q: run function called", tt.args)
			}
			continue
		}
		if err != nil || got.N != tt.wantN || got.JSON != tt.wantJSON {
			t.Errorf("%q: err %v, options %+v", tt.args, err, got)
		}
	}
}

var t0 = time.Date(2026, 12, 3, 17, 40, 1, 0, time.UTC)

// writeJournal appends a request, grant, session_start and session_end.
func writeJournal(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "audit.jsonl")
	j := audit.OpenJournal(path)
	exp := t0.Add(time.Hour)
	code := 0
	who := &audit.Principal{ID: "arn:aws:iam::111111111111:user/alice"}
	events := []*audit.Event{
		{Event: audit.EventRequest, Time: t0, RequestID: "01REQ", Principal: who, Target: "prod", DurationS: 3600, Reason: "CHG-42", Decision: &audit.Decision{Allowed: true, Rule: "sre-prod"}},
		{Event: audit.EventGrant, Time: t0, RequestID: "01REQ", Principal: who, Target: "prod", DurationS: 3600, ExpiresAt: &exp},
		{Event: audit.EventSessionStart, Time: t0, RequestID: "01REQ", Principal: who, Target: "prod", DurationS: 3600, Session: &audit.Session{Command: []string{"/bin/bash"}}},
		{Event: audit.EventSessionEnd, Time: t0.Add(90 * time.Second), RequestID: "01REQ", Principal: who, Target: "prod", DurationS: 5400, Session: &audit.Session{Command: []string{"/bin/bash"}, ExitCode: &code}},
	}
	for _, e := range events {
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func cfgFor(journal string) func() (*config.Config, error) {
	return func() (*config.Config, error) { return &config.Config{Audit: config.Audit{Journal: journal}}, nil }
}

func TestRunVerify(t *testing.T) {
	good := writeJournal(t)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")

	tampered := filepath.Join(t.TempDir(), "tampered.jsonl")
	edited := strings.Replace(lines[1], `"duration_s":3600`, `"duration_s":900`, 1)
	if edited == lines[1] {
		t.Fatal("tamper did not apply")
	}
	if err := os.WriteFile(tampered, []byte(lines[0]+edited+lines[2]+lines[3]), 0o600); err != nil {
		t.Fatal(err)
	}
	dropped := filepath.Join(t.TempDir(), "dropped.jsonl")
	if err := os.WriteFile(dropped, []byte(lines[0]+lines[1]+lines[3]), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		opts    VerifyOptions
		stdin   string
		wantOut string // regexp over the whole output
		broken  bool
	}{
		{name: "configured journal", opts: VerifyOptions{Config: cfgFor(good)}, wantOut: `^ok: 4 events, seq 1–4, chain intact\n$`},
		{name: "file argument", opts: VerifyOptions{Files: []string{good}}, wantOut: `^ok: 4 events, seq 1–4, chain intact\n$`},
		{name: "stdin", opts: VerifyOptions{Files: []string{"-"}}, stdin: string(data), wantOut: `^ok: 4 events, seq 1–4, chain intact\n$`},
		{name: "edited line", opts: VerifyOptions{Files: []string{tampered}}, broken: true,
			wantOut: `^` + regexp.QuoteMeta(tampered) + `:2: edited: [^\n]+\n(.*\n)?BROKEN: \d+ problem\(s\) in 4 lines\n$`},
		{name: "dropped line", opts: VerifyOptions{Files: []string{dropped}}, broken: true,
			wantOut: `(?m)^` + regexp.QuoteMeta(dropped) + `:3: dropped: [^\n]+\n(.*\n)*BROKEN: \d+ problem\(s\) in 3 lines\n$`},
		{name: "edited line on stdin", opts: VerifyOptions{Files: []string{"-"}}, stdin: lines[0] + edited, broken: true,
			wantOut: `^stdin:2: edited: [^\n]+\nBROKEN: 1 problem\(s\) in 2 lines\n$`},
		{name: "json ok", opts: VerifyOptions{Files: []string{good}, JSON: true}, wantOut: `(?s)^\{\n  "lines": 4,\n  "events": 4,\n  "first_seq": 1,\n  "last_seq": 4,\n  "problems": (null|\[\]),\n  "signed": 0,\n  "signatures_checked": false\n\}\n$`},
		{name: "json broken", opts: VerifyOptions{Files: []string{tampered}, JSON: true}, broken: true, wantOut: `(?s)^\{.*"kind": "edited".*\}\n$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, in, out, errOut := iostreams.Test()
			in.WriteString(tt.stdin)
			o := tt.opts
			o.IO = ios
			err := runVerify(&o)
			if tt.broken != errors.Is(err, cmdutil.ErrSilent) {
				t.Errorf("error = %v, want ErrSilent %v", err, tt.broken)
			}
			if !tt.broken && err != nil {
				t.Errorf("error = %v", err)
			}
			if !regexp.MustCompile(tt.wantOut).MatchString(out.String()) {
				t.Errorf("output:\n%s\nwant match for %s", out, tt.wantOut)
			}
			if errOut.Len() != 0 {
				t.Errorf("stderr = %q", errOut)
			}
		})
	}

	// A journal cut at its end is caught through the head when verified as
	// the file, which names the journal rather than a line.
	cut := writeJournal(t)
	if err := os.WriteFile(cut, []byte(strings.Join(strings.SplitAfter(readFile(t, cut), "\n")[:3], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, out, _ := iostreams.Test()
	if err := runVerify(&VerifyOptions{IO: ios, Files: []string{cut}}); !errors.Is(err, cmdutil.ErrSilent) {
		t.Fatalf("cut journal: error = %v", err)
	}
	if !strings.Contains(out.String(), cut+": truncated: ") || strings.Contains(out.String(), cut+":0:") {
		t.Errorf("cut journal output:\n%s", out)
	}

	ios, _, _, _ = iostreams.Test()
	if err := runVerify(&VerifyOptions{IO: ios, Files: []string{filepath.Join(t.TempDir(), "none.jsonl")}}); err == nil || errors.Is(err, cmdutil.ErrSilent) || !strings.Contains(err.Error(), "verify ") {
		t.Errorf("missing file: error = %v", err)
	}
	cfgErr := errors.New("config broken")
	if err := runVerify(&VerifyOptions{IO: ios, Config: func() (*config.Config, error) { return nil, cfgErr }}); !errors.Is(err, cfgErr) {
		t.Errorf("config error = %v", err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunTail(t *testing.T) {
	journal := writeJournal(t)
	t.Run("human", func(t *testing.T) {
		ios, _, out, _ := iostreams.Test()
		if err := runTail(&TailOptions{IO: ios, Config: cfgFor(journal), N: 10}); err != nil {
			t.Fatal(err)
		}
		want := strings.Join([]string{
			"2026-12-03 17:40:01Z  request        prod  arn:aws:iam::111111111111:user/alice  1h  allowed by sre-prod  01REQ",
			"2026-12-03 17:40:01Z  grant          prod  arn:aws:iam::111111111111:user/alice  1h  until 18:40:01Z  01REQ",
			"2026-12-03 17:40:01Z  session_start  prod  arn:aws:iam::111111111111:user/alice  1h  /bin/bash  01REQ",
			"2026-12-03 17:41:31Z  session_end    prod  arn:aws:iam::111111111111:user/alice  1h30m  /bin/bash → exit 0  01REQ",
		}, "\n") + "\n"
		if out.String() != want {
			t.Errorf("output:\n%s\nwant:\n%s", out, want)
		}
	})
	t.Run("last n", func(t *testing.T) {
		ios, _, out, _ := iostreams.Test()
		if err := runTail(&TailOptions{IO: ios, Config: cfgFor(journal), N: 2}); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], "session_start") || !strings.Contains(lines[1], "session_end") {
			t.Errorf("output:\n%s", out)
		}
	})
	t.Run("json is the journal's own lines", func(t *testing.T) {
		ios, _, out, _ := iostreams.Test()
		if err := runTail(&TailOptions{IO: ios, Config: cfgFor(journal), N: 0, JSON: true}); err != nil {
			t.Fatal(err)
		}
		if out.String() != readFile(t, journal) {
			t.Errorf("--json output differs from the journal:\n%s\nvs\n%s", out, readFile(t, journal))
		}
		// And it verifies as a journal of its own.
		rep, err := audit.Verify(bytes.NewReader(out.Bytes()))
		if err != nil || !rep.OK() {
			t.Errorf("--json output does not verify: %v %+v", err, rep)
		}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil || m["schema"] != audit.Schema {
				t.Errorf("line %q: %v", line, err)
			}
		}
	})
	t.Run("no journal yet", func(t *testing.T) {
		ios, _, out, errOut := iostreams.Test()
		missing := filepath.Join(t.TempDir(), "audit.jsonl")
		if err := runTail(&TailOptions{IO: ios, Config: cfgFor(missing), N: 10}); err != nil {
			t.Fatal(err)
		}
		if out.Len() != 0 || errOut.String() != "jit: no audit journal yet at "+missing+"\n" {
			t.Errorf("stdout %q stderr %q", out, errOut)
		}
	})
}

func TestSummary(t *testing.T) {
	code := 2
	tests := []struct {
		e    audit.Event
		want string
	}{
		{audit.Event{Event: audit.EventDeny, Time: t0, Target: "prod", RequestID: "R", DurationS: 900, Decision: &audit.Decision{Reasons: []string{"a", "b"}}}, "2026-12-03 17:40:01Z  deny           prod  -  15m  a; b  R"},
		{audit.Event{Event: audit.EventRequest, Time: t0, Target: "prod", RequestID: "R", Reason: "why", Decision: &audit.Decision{Allowed: false}}, "2026-12-03 17:40:01Z  request        prod  -  -  reason: why  R"},
		{audit.Event{Event: audit.EventError, Time: t0, RequestID: "R", Error: "assume role: AccessDenied"}, "2026-12-03 17:40:01Z  error          -  -  -  assume role: AccessDenied  R"},
		{audit.Event{Event: audit.EventSessionEnd, Time: t0, RequestID: "R", DurationS: 7260, Session: &audit.Session{Command: []string{"terraform", "apply"}, ExitCode: &code}}, "2026-12-03 17:40:01Z  session_end    -  -  2h1m  terraform apply → exit 2  R"},
		{audit.Event{Event: audit.EventRequest, Time: t0, DurationS: 45}, "2026-12-03 17:40:01Z  request        -  -  45s  reason:   "},
	}
	for _, tt := range tests {
		if got := Summary(&tt.e); got != tt.want {
			t.Errorf("Summary =\n%q\nwant\n%q", got, tt.want)
		}
	}
}
