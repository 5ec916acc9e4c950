package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/audit/ship"
	"github.com/jitaccess/jit/internal/audit/ship/shiptest"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/cmdutil/cmdtest"
	"github.com/jitaccess/jit/internal/config"
	"github.com/jitaccess/jit/internal/elevation"
	et "github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/providers"
)

// sinkService is an elevation service over the fake provider whose
// configuration names the given sinks (the policy's audit.sinks when
// policySinks, else the user's).
func sinkService(journal string, targets []ship.Target, src *et.Source) func() (*elevation.Service, error) {
	return func() (*elevation.Service, error) {
		p := &et.Provider{Principal: providers.Principal{ID: "alice@example.com"}}
		svc := et.Service(p, src, journal)
		for _, tg := range targets {
			svc.UserSinks = append(svc.UserSinks, policy.SinkConfig{Type: "file", Path: "/x", Name: tg.Name, Required: tg.Required})
		}
		svc.Sinks = func([]policy.SinkConfig) (*ship.Shipper, error) { return ship.New(journal, targets) }
		return svc, nil
	}
}

func TestNewCmdStatusAndFlush(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios}
	var so *StatusOptions
	if err := cmdtest.Execute(NewCmdStatus(f, func(o *StatusOptions) error { so = o; return nil }), "--json"); err != nil || !so.JSON {
		t.Errorf("status --json: %v %+v", err, so)
	}
	if err := cmdtest.Execute(NewCmdStatus(f, func(*StatusOptions) error { return nil }), "x"); err == nil {
		t.Error("status took an argument")
	}
	var fo *FlushOptions
	if err := cmdtest.Execute(NewCmdFlush(f, func(o *FlushOptions) error { fo = o; return nil })); err != nil || fo.Timeout != time.Minute {
		t.Errorf("flush: %v %+v", err, fo)
	}
	if err := cmdtest.Execute(NewCmdFlush(f, func(o *FlushOptions) error { fo = o; return nil }), "--timeout", "5s"); err != nil || fo.Timeout != 5*time.Second {
		t.Errorf("flush --timeout 5s: %v %+v", err, fo)
	}
	var fe *cmdutil.FlagError
	if err := cmdtest.Execute(NewCmdFlush(f, func(*FlushOptions) error { return nil }), "--timeout", "0s"); !errors.As(err, &fe) {
		t.Errorf("flush --timeout 0s = %v", err)
	}
}

func TestStatusAndFlush(t *testing.T) {
	journal := writeJournal(t)
	up, down := &shiptest.MemorySink{SinkName: "siem"}, &shiptest.MemorySink{SinkName: "archive"}
	down.SetDown(true)
	targets := []ship.Target{{Sink: up, Name: "syslog tcp://127.0.0.1:6514", Type: "syslog", Required: true}, {Sink: down, Name: "s3 audit/jit/", Type: "s3"}}
	newSvc := sinkService(journal, targets, et.NewSource(et.Policy))

	// Before anything was delivered.
	ios, _, out, _ := iostreams.Test()
	if err := runStatus(context.Background(), &StatusOptions{IO: ios, Elevation: newSvc}); err != nil {
		t.Fatal(err)
	}
	want := `(?m)^SINK +TYPE +REQUIRED +DELIVERED +BACKLOG +LAST SUCCESS +LAST ERROR\n` +
		`syslog tcp://127\.0\.0\.1:6514 +syslog +yes +0 +4 +- +-\n` +
		`s3 audit/jit/ +s3 +no +0 +4 +- +-\n$`
	if !regexp.MustCompile(want).MatchString(out.String()) {
		t.Errorf("status:\n%s\nwant %s", out, want)
	}

	// Flush: one sink gets everything, the other stays down.
	ios, _, out, _ = iostreams.Test()
	err := runFlush(context.Background(), &FlushOptions{IO: ios, Elevation: newSvc, Timeout: 300 * time.Millisecond, Backoff: 10 * time.Millisecond})
	var he *cmdutil.HintError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "audit backlog remains at 1 sink: s3 audit/jit/ (4)") || !strings.Contains(he.Hint, "jit audit status") {
		t.Errorf("flush error = %v", err)
	}
	if got := out.String(); !strings.Contains(got, "syslog tcp://127.0.0.1:6514: delivered 4 events (up to seq 4)\n") ||
		!strings.Contains(got, "s3 audit/jit/: 4 events wait: sink is down\n") {
		t.Errorf("flush output:\n%s", got)
	}
	if sends, _ := down.Counts(); sends < 3 {
		t.Errorf("the down sink was tried %d times in 300ms with a 10ms backoff", sends)
	}
	if got := up.Lines(); len(got) != 4 || !bytes.Equal(append(bytes.Join(got, []byte("\n")), '\n'), []byte(readFile(t, journal))) {
		t.Errorf("sink got %d lines", len(got))
	}

	// Status shows both, as JSON too.
	ios, _, out, _ = iostreams.Test()
	if err := runStatus(context.Background(), &StatusOptions{IO: ios, Elevation: newSvc, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var sinks []sinkJSON
	if err := json.Unmarshal(out.Bytes(), &sinks); err != nil {
		t.Fatal(err)
	}
	if len(sinks) != 2 || sinks[0].Delivered != 4 || sinks[0].Backlog != 0 || sinks[0].LastSuccess == nil || !sinks[0].Required ||
		sinks[1].Backlog != 4 || sinks[1].Failures < 3 || sinks[1].LastError != "sink is down" || sinks[1].LastSuccess != nil ||
		!strings.HasPrefix(sinks[1].Cursor, journal+".cursors/") {
		t.Errorf("status --json = %+v", sinks)
	}

	// The sink comes back: flush delivers and succeeds.
	down.SetDown(false)
	ios, _, out, _ = iostreams.Test()
	if err := runFlush(context.Background(), &FlushOptions{IO: ios, Elevation: newSvc, Timeout: 5 * time.Second, Backoff: 10 * time.Millisecond}); err != nil {
		t.Fatalf("flush = %v", err)
	}
	if got := out.String(); got != "syslog tcp://127.0.0.1:6514: up to date (seq 4)\ns3 audit/jit/: delivered 4 events (up to seq 4)\n" {
		t.Errorf("flush output:\n%s", got)
	}
}

func TestStatusWithoutSinksOrPolicy(t *testing.T) {
	journal := writeJournal(t)
	ios, _, out, errOut := iostreams.Test()
	if err := runStatus(context.Background(), &StatusOptions{IO: ios, Elevation: sinkService(journal, nil, et.NewSource(et.Policy))}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), "no audit sinks configured") {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
	ios, _, out, errOut = iostreams.Test()
	if err := runFlush(context.Background(), &FlushOptions{IO: ios, Elevation: sinkService(journal, nil, et.NewSource(et.Policy)), Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "nothing to deliver") {
		t.Errorf("flush without sinks: %q", errOut)
	}

	// The policy cannot be loaded: the user's sinks still go, with a
	// warning, and flush fails.
	src := et.NewSource(et.Policy)
	src.Err = errors.New("git fetch: connection refused")
	m := &shiptest.MemorySink{SinkName: "mine"}
	newSvc := sinkService(journal, []ship.Target{{Sink: m, Name: "mine"}}, src)
	ios, _, out, errOut = iostreams.Test()
	err := runFlush(context.Background(), &FlushOptions{IO: ios, Elevation: newSvc, Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "policy's audit sinks were not flushed") || len(m.Lines()) != 4 {
		t.Errorf("flush without policy = %v (%d delivered)", err, len(m.Lines()))
	}
	if !strings.Contains(errOut.String(), "its audit sinks are missing here: git fetch: connection refused") {
		t.Errorf("stderr %q", errOut)
	}
	_ = out
}

func TestVerifySignaturesAndCopies(t *testing.T) {
	dir := t.TempDir()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "jit_audit")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer := audit.NewSigner(key)
	pubFile := filepath.Join(dir, "jit_audit.pub")
	if err := os.WriteFile(pubFile, []byte(signer.AuthorizedKey()+" audit\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := audit.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize)))

	journal := filepath.Join(dir, "state", "audit.jsonl")
	j := audit.OpenJournal(journal)
	j.Signer = signer
	for i := range 6 {
		if err := j.Append(&audit.Event{Event: audit.EventRequest, Time: t0, RequestID: "r" + string(rune('0'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.SplitAfter(readFile(t, journal), "\n")[:6]
	// An s3 sink's objects: two overlapping pieces, from seq 2.
	objects := filepath.Join(dir, "objects")
	os.Mkdir(objects, 0o700)
	os.WriteFile(filepath.Join(objects, "0002-0004.jsonl"), []byte(strings.Join(lines[1:4], "")), 0o600)
	os.WriteFile(filepath.Join(objects, "0003-0006.jsonl"), []byte(strings.Join(lines[2:6], "")), 0o600)

	cfg := func(c config.Audit) func() (*config.Config, error) {
		return func() (*config.Config, error) {
			c.Journal = journal
			return &config.Config{Audit: c}, nil
		}
	}
	tests := []struct {
		name    string
		opts    VerifyOptions
		wantOut string
		broken  bool
	}{
		{name: "signatures not checked", opts: VerifyOptions{Config: cfg(config.Audit{})},
			wantOut: `^ok: 6 events, seq 1–6, chain intact\nnote: 6 events are signed; the signatures were not checked \(give --key, or set audit.verify_keys\)\n$`},
		{name: "--key file", opts: VerifyOptions{Config: cfg(config.Audit{}), Keys: []string{pubFile}},
			wantOut: `^ok: 6 events, seq 1–6, chain intact, 6 signatures good\n$`},
		{name: "--key line, no config", opts: VerifyOptions{Files: []string{journal}, Keys: []string{signer.AuthorizedKey()}},
			wantOut: `^ok: 6 events, seq 1–6, chain intact, 6 signatures good\n$`},
		{name: "audit.verify_keys", opts: VerifyOptions{Config: cfg(config.Audit{VerifyKeys: []string{pubFile}})},
			wantOut: `, 6 signatures good\n$`},
		{name: "audit.signing_key", opts: VerifyOptions{Config: cfg(config.Audit{SigningKey: keyFile})},
			wantOut: `, 6 signatures good\n$`},
		{name: "another key", opts: VerifyOptions{Config: cfg(config.Audit{}), Keys: []string{other.AuthorizedKey()}}, broken: true,
			wantOut: `(?s)^` + regexp.QuoteMeta(journal) + `:1: unknown key: signed by ` + regexp.QuoteMeta(signer.Fingerprint()) + `.*BROKEN: 6 problem\(s\) in 6 lines\n$`},
		{name: "s3 objects as a copy", opts: VerifyOptions{Files: []string{objects}, Copy: true, Keys: []string{pubFile}},
			wantOut: `^ok: 5 events, seq 2–6, chain intact, 7 signatures good; a copy starting at seq 2, verified from there; 2 lines delivered twice were skipped\n$`},
		{name: "s3 objects, not as a copy", opts: VerifyOptions{Files: []string{objects}}, broken: true,
			wantOut: `(?s)^input:1: dropped: .*hint: a sink's copy may start mid-journal: verify it with --copy\n$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, _ := iostreams.Test()
			o := tt.opts
			o.IO = ios
			err := runVerify(&o)
			if tt.broken != errors.Is(err, cmdutil.ErrSilent) || (!tt.broken && err != nil) {
				t.Errorf("error = %v, want broken %v", err, tt.broken)
			}
			if !regexp.MustCompile(tt.wantOut).MatchString(out.String()) {
				t.Errorf("output:\n%s\nwant match for %s", out, tt.wantOut)
			}
		})
	}
	ios, _, _, _ := iostreams.Test()
	if err := runVerify(&VerifyOptions{IO: ios, Files: []string{journal}, Keys: []string{filepath.Join(dir, "missing.pub")}}); err == nil || errors.Is(err, cmdutil.ErrSilent) {
		t.Errorf("missing key file: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o700)
	if err := runVerify(&VerifyOptions{IO: ios, Files: []string{empty}}); err == nil || !strings.Contains(err.Error(), "holds no files") {
		t.Errorf("empty directory: %v", err)
	}
}
