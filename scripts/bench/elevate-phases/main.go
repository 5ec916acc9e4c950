// Command elevate-phases times, inside one process and without tracing, each
// step that `jit elevate <target> --for 15m -- true` takes after start-up,
// with the same packages jit uses: config load, the policy read from git,
// policy parse, the AWS SDK's config load, GetCallerIdentity, the decision,
// three journal appends, AssumeRole and running the child. Every iteration
// builds its objects afresh (a new git process, a new SDK config and HTTP
// connection, a new Journal), as a new jit process would.
//
// Run it inside `jit dev` (it reads JIT_CONFIG, AWS_* and XDG_STATE_HOME
// from there); it appends to a journal of its own beside jit's.
//
// It is a benchmark helper, not part of jit.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/config"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/internal/policysource"
	"github.com/jitaccess/jit/providers"
	"github.com/jitaccess/jit/providers/all"
	"github.com/jitaccess/jit/providers/aws"
)

var phaseNames = []string{
	"config load (viper, config file, env)",
	"policy read: git cat-file --batch process",
	"policy parse and validate (YAML, CEL compile)",
	"AWS SDK LoadDefaultConfig",
	"GetCallerIdentity round trip",
	"policy decision",
	"journal append 1 (request)",
	"AssumeRole round trip",
	"journal append 2 (grant, session_start)",
	"run the child (fork, exec `true`, wait)",
	"journal append 3 (session_end)",
}

func main() {
	n := flag.Int("n", 30, "iterations")
	target := flag.String("target", "sandbox-admin", "policy target")
	flag.Parse()
	if err := run(*n, *target); err != nil {
		fmt.Fprintln(os.Stderr, "elevate-phases:", err)
		os.Exit(1)
	}
}

func run(n int, target string) error {
	ctx := context.Background()
	journalPath := filepath.Join(os.Getenv("XDG_STATE_HOME"), "jit-bench", "audit.jsonl")
	// The journal exists before the first timed append, as jit's does.
	if err := audit.OpenJournal(journalPath).Append(&audit.Event{Event: audit.EventRequest, Target: target, Reason: "bench warm-up"}); err != nil {
		return err
	}
	times := make([][]time.Duration, len(phaseNames))
	for range n + 1 {
		var t []time.Duration
		mark := time.Now()
		lap := func() {
			now := time.Now()
			t = append(t, now.Sub(mark))
			mark = now
		}
		cfg, err := config.Load(config.Options{})
		if err != nil {
			return err
		}
		lap()
		src := &policysource.Git{Repo: cfg.Policy.Repo, Ref: cfg.Policy.Ref, File: cfg.Policy.File,
			AllowedSigners: cfg.Policy.AllowedSigners, MaxAge: cfg.Policy.MaxAge, CacheDir: cfg.CacheDir}
		snap, err := src.Load(ctx)
		if err != nil {
			return err
		}
		lap()
		pol, err := policy.Parse(snap.Data, policy.Options{File: snap.File,
			Providers: all.New(all.Options{}).Specs()})
		if err != nil {
			return err
		}
		lap()
		prov, err := aws.New(ctx, aws.Options{Profile: cfg.Providers.AWS.Profile, Region: cfg.Providers.AWS.Region,
			Endpoint: cfg.Providers.AWS.Endpoint})
		if err != nil {
			return err
		}
		lap()
		who, err := prov.WhoAmI(ctx)
		if err != nil {
			return err
		}
		lap()
		who.Groups = pol.GroupsOf(who)
		tgt, ok := pol.Targets[target]
		if !ok {
			return fmt.Errorf("no target %s in the policy", target)
		}
		dec := pol.Evaluate(policy.Input{Principal: who, Target: target, Duration: 15 * time.Minute,
			Reason: "bench", Time: time.Now()})
		if !dec.Allowed {
			return fmt.Errorf("denied: %v", dec.Reasons)
		}
		lap()
		j := audit.OpenJournal(journalPath)
		id := audit.NewID(time.Now())
		ev := func(kind string) *audit.Event {
			return &audit.Event{Event: kind, RequestID: id, Target: target, Provider: tgt.Provider,
				Principal: &audit.Principal{ID: who.ID, Source: who.Source, Groups: who.Groups},
				DurationS: 900, Reason: "bench",
				Decision: &audit.Decision{Allowed: dec.Allowed, Rule: dec.Rule, Reasons: dec.Reasons},
				Policy:   &audit.PolicyRef{Repo: snap.Repo, Ref: snap.Ref, Commit: snap.Commit, File: snap.File}}
		}
		if err := j.Append(ev(audit.EventRequest)); err != nil {
			return err
		}
		lap()
		g, err := prov.Grant(ctx, providers.Request{ID: id, Target: tgt.ProviderTarget(), Principal: who,
			Duration: dec.Duration, Reason: "bench"})
		if err != nil {
			return err
		}
		lap()
		ge := ev(audit.EventGrant)
		ge.Grant = g.Redacted().Refs
		if err := j.Append(ge, ev(audit.EventSessionStart)); err != nil {
			return err
		}
		lap()
		if err := exec.Command("true").Run(); err != nil {
			return err
		}
		lap()
		if err := j.Append(ev(audit.EventSessionEnd)); err != nil {
			return err
		}
		lap()
		for i, d := range t {
			times[i] = append(times[i], d)
		}
	}
	// The first iteration pays what a fresh jit process pays once: code
	// paged in, lazy initialisation in the libraries. The median of the
	// rest is the steady cost of the work itself.
	var first, total time.Duration
	fmt.Printf("| step | 1st iteration ms (cold, as in a new process) | median ms of %d more (warm) |\n|---|---:|---:|\n", n)
	for i, name := range phaseNames {
		f := times[i][0]
		rest := slices.Clone(times[i][1:])
		slices.Sort(rest)
		med := rest[len(rest)/2]
		first += f
		total += med
		fmt.Printf("| %s | %.2f | %.2f |\n", name, ms(f), ms(med))
	}
	fmt.Printf("| **sum** | **%.2f** | **%.2f** |\n", ms(first), ms(total))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
