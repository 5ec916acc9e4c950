package policy

import (
	"path"
	"strings"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "arn:aws:iam::1:user/alice", true}, // * crosses "/"
		{"*", "", true},
		{"arn:aws:iam::1:*", "arn:aws:iam::1:user/division/alice", true},
		{"arn:aws:iam::1:*", "arn:aws:iam::2:user/alice", false},
		{"arn:aws:sts::1:assumed-role/*/bob@example.com", "arn:aws:sts::1:assumed-role/Admin/bob@example.com", true},
		{"arn:aws:sts::1:assumed-role/*/bob@example.com", "arn:aws:sts::1:assumed-role/Admin/bob@example.com.evil", false},
		{"staging-*", "staging-eu", true},
		{"staging-*", "staging", false},
		{"a?c", "a/c", true},
		{"a?c", "abbc", false},
		{"?", "é", true},
		{"??", "é", false},
		{"*é", "caféé", true},
		{"[a-c]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[^a-c]x", "dx", true},
		{"[^/]", "/", false},
		{"[\\]]", "]", true},
		{"[é-ï]", "î", true},
		{"a\\*b", "a*b", true},
		{"a\\*b", "axb", false},
		{"*a*b*c*", "xxaxxbxxcxx", true},
		{"*a*b*c*", "xxaxxcxxbxx", false},
		{"user*@example.com", "user7@example.com", true},
		{"user*@example.com", "user7@example.co", false},
		{"a*", "b", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pat, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}

// FuzzGlobMatch checks globMatch against path.Match where they must agree:
// on valid patterns and names without "/", and that * only ever matches
// more, never less, when names do have "/".
func FuzzGlobMatch(f *testing.F) {
	for _, s := range [][2]string{{"a*b", "axxb"}, {"[a-z]?", "b/"}, {"*x*", "a/x/b"}, {"\\[", "["}, {"[^é]*", "ab"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		if !validGlob(pat) {
			return
		}
		got := globMatch(pat, s)
		want, _ := path.Match(pat, s)
		if !strings.Contains(s, "/") && got != want {
			t.Fatalf("globMatch(%q, %q) = %v, path.Match says %v", pat, s, got, want)
		}
		if want && !got {
			t.Fatalf("globMatch(%q, %q) = false, path.Match matches", pat, s)
		}
	})
}
