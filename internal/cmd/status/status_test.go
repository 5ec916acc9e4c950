package status

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/grants"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/providers"
)

func TestRows(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	recs := []*grants.Record{
		{RequestID: "A", State: grants.StateActive, Target: "prod", Provider: "aws", NotAfter: now.Add(90 * time.Minute), SessionPID: 42},
		{RequestID: "B", State: grants.StateActive, Target: "dev", Provider: "aws", NotAfter: now.Add(20 * time.Second), SessionEnded: true, Revocable: true},
		{RequestID: "C", State: grants.StatePending, Target: "owner", Provider: "azure"},
	}
	rows := Rows(recs, now)
	if rows[0].Remaining != "1h30m" || rows[0].Session != "running (jit pid 42)" || rows[0].ExpiresAt == nil {
		t.Errorf("row 0 = %+v", rows[0])
	}
	if rows[1].Remaining != "<1m" || rows[1].Session != "ended" || !rows[1].Revocable {
		t.Errorf("row 1 = %+v", rows[1])
	}
	if rows[2].State != "pending" || rows[2].Remaining != "" || rows[2].ExpiresAt != nil {
		t.Errorf("row 2 = %+v", rows[2])
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	p := &elevationtest.Provider{Principal: providers.Principal{ID: "alice@example.com", Source: "fake"}}
	svc := elevationtest.Service(p, elevationtest.NewSource(elevationtest.Policy), filepath.Join(dir, "audit.jsonl"))
	svc.Grants = &grants.Store{Dir: filepath.Join(dir, "grants")}
	ios, _, out, errOut := iostreams.Test()
	o := &Options{IO: ios, Elevation: func() (*elevation.Service, error) { return svc, nil }, Now: time.Now}
	if err := run(context.Background(), o); err != nil || !strings.Contains(errOut.String(), "no active or pending grants") {
		t.Fatalf("empty: %v, stderr %q", err, errOut.String())
	}
	res, err := svc.Elevate(context.Background(), elevation.Request{Target: "staging", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	o.JSON = true
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var rows []Row
	if err := json.NewDecoder(bytes.NewReader(out.Bytes())).Decode(&rows); err != nil || len(rows) != 1 || rows[0].RequestID != res.RequestID || rows[0].Target != "staging" {
		t.Errorf("json rows = %+v, %v (%s)", rows, err, out)
	}
	if strings.Contains(out.String(), elevationtest.SecretValue) {
		t.Error("status shows a secret")
	}
}
