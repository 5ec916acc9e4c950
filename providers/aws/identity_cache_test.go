package aws

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/providers"
)

func TestIdentityCache(t *testing.T) {
	s, c := startFake(t)
	useKeys(t, aliceKey, aliceSecret, "")
	dir := filepath.Join(t.TempDir(), "identity")
	newP := func() *Provider {
		return newProvider(t, s, c, func(o *Options) { o.IdentityCacheDir = dir })
	}
	ctx := context.Background()
	calls := func() int { return len(s.CallsFor("GetCallerIdentity")) }

	first, err := newP().WhoAmI(ctx)
	if err != nil || calls() != 1 {
		t.Fatalf("first WhoAmI = %+v, %v; %d calls", first, err, calls())
	}
	// A new process (a new Provider) with the same base key asks no one.
	second, err := newP().WhoAmI(ctx)
	if err != nil || calls() != 1 || second.ID != aliceARN || second.Claims["cached"] != true {
		t.Fatalf("cached WhoAmI = %+v, %v; %d calls", second, err, calls())
	}
	// jit whoami asks STS anyway.
	if _, err := newP().WhoAmI(providers.WithFreshIdentity(ctx)); err != nil || calls() != 2 {
		t.Fatalf("fresh WhoAmI: %v; %d calls", err, calls())
	}
	// The entry is named by a hash and holds neither key nor secret.
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("cache files: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	fi, _ := os.Stat(files[0])
	if strings.Contains(string(data), aliceSecret) || strings.Contains(files[0], aliceKey) || fi.Mode().Perm() != 0o600 {
		t.Errorf("cache entry %s (%v): %s", files[0], fi.Mode().Perm(), data)
	}
	// Past its expiry (12h for keys that never expire), it is asked again.
	c.t = c.t.Add(13 * time.Hour)
	if _, err := newP().WhoAmI(ctx); err != nil || calls() != 3 {
		t.Fatalf("expired entry: %v; %d calls", err, calls())
	}
	// Another base key is another entry.
	useKeys(t, bobKey, bobSecret, bobToken)
	who, err := newP().WhoAmI(ctx)
	if err != nil || who.ID != bobARN || calls() != 4 {
		t.Fatalf("bob: %+v, %v; %d calls", who, err, calls())
	}
	// A damaged entry is ignored.
	files, _ = filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		_ = os.WriteFile(f, []byte("{"), 0o600)
	}
	if _, err := newP().WhoAmI(ctx); err != nil || calls() != 5 {
		t.Fatalf("damaged entry: %v; %d calls", err, calls())
	}
}

func TestNoIdentityCacheWithoutDir(t *testing.T) {
	s, c := startFake(t)
	useKeys(t, aliceKey, aliceSecret, "")
	for i := 1; i <= 2; i++ {
		if _, err := newProvider(t, s, c, nil).WhoAmI(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(s.CallsFor("GetCallerIdentity")); n != i {
			t.Fatalf("%d calls after %d providers", n, i)
		}
	}
}
