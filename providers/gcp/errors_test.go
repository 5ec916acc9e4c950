package gcp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	fakegcp "github.com/jitaccess/jit/internal/fakecloud/gcp"
	"github.com/jitaccess/jit/providers"
)

func TestErrorsClassified(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		code codes.Code
		kind providers.Kind
	}{
		{codes.Unauthenticated, providers.KindAuth},
		{codes.PermissionDenied, providers.KindDenied},
		{codes.InvalidArgument, providers.KindInvalid},
		{codes.FailedPrecondition, providers.KindInvalid},
		{codes.ResourceExhausted, providers.KindThrottled},
		{codes.Unavailable, providers.KindTransient},
		{codes.Internal, providers.KindTransient},
		{codes.NotFound, providers.KindNotFound},
		{codes.Aborted, providers.KindConflict},
		{codes.DataLoss, providers.KindUnknown},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			defer w.fake.ClearFaults()
			// The SDK retries Unavailable on reads by itself (see below);
			// writes it does not retry.
			method := "GetIamPolicy"
			if tc.code == codes.Unavailable {
				method = "SetIamPolicy"
			}
			w.fake.Fail(fakegcp.Fault{Method: method, Code: tc.code, Message: "injected " + tc.code.String()})
			_, err := w.p.Grant(context.Background(), w.request("01ERR", bindingSpec(), time.Hour))
			pe, kind := kindOf(t, err)
			if kind != tc.kind {
				t.Errorf("kind %s, want %s: %v", kind, tc.kind, err)
			}
			if pe.Op == "" || !strings.Contains(err.Error(), "injected") || strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("error %q", err)
			}
			if strings.Contains(err.Error(), "rpc error") {
				t.Errorf("error shows gRPC's raw form: %q", err)
			}
			if strings.Contains(err.Error(), aliceTok) || strings.Contains(pe.Hint, aliceTok) {
				t.Error("the error holds the token")
			}
			if kind != providers.KindUnknown && pe.Hint == "" {
				t.Error("no hint")
			}
		})
	}
}

func TestUnavailableUntilDeadline(t *testing.T) {
	w := newWorld(t)
	// The SDK keeps retrying an unavailable read (for up to a minute);
	// the caller's deadline ends it, and says so.
	w.fake.Fail(fakegcp.Fault{Method: "GetIamPolicy", Code: codes.Unavailable, Count: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := w.p.Grant(ctx, w.request("01DL", bindingSpec(), time.Hour))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Unavailable until the deadline: %v", err)
	}
	if n := len(w.fake.CallsFor("GetIamPolicy")); n < 2 {
		t.Errorf("%d attempts; the SDK should have retried", n)
	}
}

func TestTransientFaultsRetriedBySDK(t *testing.T) {
	w := newWorld(t)
	// GetIamPolicy retries Unavailable on its own; two failures are
	// absorbed.
	w.fake.Fail(fakegcp.Fault{Method: "GetIamPolicy", Code: codes.Unavailable, Count: 2})
	if _, err := w.p.Grant(context.Background(), w.request("01RETRY", bindingSpec(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(w.fake.CallsFor("GetIamPolicy")); n != 3 {
		t.Errorf("%d GetIamPolicy calls, want 3", n)
	}
}

func TestCancellation(t *testing.T) {
	for _, mode := range []*TargetSpec{bindingSpec(), {Mode: ModeImpersonate, ServiceAccount: deployer}, pamSpec(entOpen)} {
		t.Run(mode.EffectiveMode(), func(t *testing.T) {
			w := newWorld(t)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := w.p.Grant(ctx, w.request("01CAN", mode, time.Hour)); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled before: %v", err)
			}
			release := w.fake.Hold()
			defer release()
			ctx, cancel = context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := w.p.Grant(ctx, w.request("01CAN2", mode, time.Hour))
				done <- err
			}()
			time.Sleep(30 * time.Millisecond)
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("cancelled during: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Grant did not return after cancellation")
			}
		})
	}
}

func TestNewValidatesEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{}, true},
		{"loopback plaintext", Options{ResourceManagerEndpoint: "http://127.0.0.1:1234", PAMEndpoint: "http://[::1]:99", TokenInfoURL: "http://localhost:8/tokeninfo"}, true},
		{"tls host:port", Options{IAMCredentialsEndpoint: "iamcredentials.example.com:443"}, true},
		{"https URL", Options{IAMCredentialsEndpoint: "https://private.googleapis.com"}, true},
		{"plaintext to a network address", Options{ResourceManagerEndpoint: "http://10.0.0.1:80"}, false},
		{"plaintext by name", Options{PAMEndpoint: "http://fake.example.com:80"}, false},
		{"tokeninfo in the clear", Options{TokenInfoURL: "http://oauth2.example.com/tokeninfo"}, false},
		{"token URL in the clear", Options{TokenURL: "http://oauth2.example.com/token"}, false},
		{"no port", Options{ResourceManagerEndpoint: "http://127.0.0.1"}, false},
		{"garbage", Options{ResourceManagerEndpoint: "not an endpoint"}, false},
		{"path", Options{ResourceManagerEndpoint: "https://h:443/v1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(context.Background(), tc.o)
			if (err == nil) != tc.ok {
				t.Fatalf("New = %v", err)
			}
			if err != nil && providers.KindOf(err) != providers.KindInvalid {
				t.Errorf("kind %s", providers.KindOf(err))
			}
			if err == nil && tc.o.ResourceManagerEndpoint != "" && p.Endpoints()["resourcemanager"] == "" {
				t.Error("Endpoints does not report the override")
			}
		})
	}
}

// New and every method up to the first real call do no I/O: a provider
// pointed at closed ports is built without error.
func TestNewDoesNoIO(t *testing.T) {
	isolate(t)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/creds.json")
	p, err := New(context.Background(), Options{ResourceManagerEndpoint: "http://127.0.0.1:9", TokenInfoURL: "http://127.0.0.1:9/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Endpoints()) != 2 {
		t.Errorf("Endpoints = %v", p.Endpoints())
	}
	// Only the first use finds the credentials file missing.
	_, err = p.WhoAmI(context.Background())
	if pe, kind := kindOf(t, err); kind != providers.KindAuth || pe.Code != "NoCredentials" {
		t.Errorf("%v (kind %s)", err, kind)
	}
}

// Clients are created by the first call and reused; cancelling that first
// call's context must not break later ones.
func TestClientsOutliveTheirFirstCall(t *testing.T) {
	w := newWorld(t)
	for i, spec := range []*TargetSpec{bindingSpec(), {Mode: ModeImpersonate, ServiceAccount: deployer}, pamSpec(entOpen)} {
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := w.p.Grant(ctx, w.request("01FIRST"+string(rune('A'+i)), spec, time.Hour)); err != nil {
			t.Fatal(err)
		}
		cancel()
		if spec.EffectiveMode() == ModePAM {
			continue // one open grant per entitlement
		}
		if _, err := w.p.Grant(context.Background(), w.request("01NEXT"+string(rune('A'+i)), spec, time.Hour)); err != nil {
			t.Fatalf("%s after the first call's context ended: %v", spec.EffectiveMode(), err)
		}
	}
	w.fake.ResetCalls()
	if _, err := w.p.Resume(context.Background(), w.request("01FIRSTC", pamSpec(entOpen), time.Hour), w.fake.Grants()[0].Name); err != nil {
		t.Fatalf("pam after the first call's context ended: %v", err)
	}
}
