package gcp

import (
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/genproto/googleapis/type/expr"
)

func TestDropExpired(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	b := func(title, e string) *iampb.Binding {
		return &iampb.Binding{Role: "roles/x", Members: []string{"user:a@example.com"}, Condition: &expr.Expr{Title: title, Expression: e}}
	}
	pol := &iampb.Policy{Bindings: []*iampb.Binding{
		{Role: "roles/y", Members: []string{"user:b@example.com"}},
		b("jit-1", ExpiryExpression(now.Add(-time.Second))),
		b("jit-2", ExpiryExpression(now)), // ends exactly now: expired
		b("jit-3", ExpiryExpression(now.Add(time.Second))),
		b("other", ExpiryExpression(now.Add(-time.Hour))),
		b("jit-", ExpiryExpression(now.Add(-time.Hour))),
		b("jit-4", "request.time < timestamp(\"2020-01-01T00:00:00Z\") && true"),
	}}
	if n := dropExpired(pol, now); n != 2 {
		t.Errorf("dropped %d, want 2", n)
	}
	var left []string
	for _, x := range pol.Bindings {
		left = append(left, x.GetCondition().GetTitle())
	}
	if got := strings.Join(left, ","); got != ",jit-3,other,jit-,jit-4" {
		t.Errorf("left %q", got)
	}
}
