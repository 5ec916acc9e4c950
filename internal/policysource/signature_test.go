package policysource

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

type sshKey struct {
	priv, pub string // paths
	line      string // "type base64" of the public key
	fp        string
}

func newSSHKey(t *testing.T, dir, name, typ string) sshKey {
	t.Helper()
	priv := filepath.Join(dir, name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", "", "-C", name, "-f", priv).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pubBytes, err := os.ReadFile(priv + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey(pubBytes)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(pubBytes))
	return sshKey{priv: priv, pub: priv + ".pub", line: f[0] + " " + f[1], fp: ssh.FingerprintSHA256(pk)}
}

// gitEnv runs git with extra environment variables.
func gitEnv(t *testing.T, dir string, env []string, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// withSignature inserts a gpgsig header at the end of a raw commit's headers,
// the way git lays out a signed commit.
func withSignature(raw []byte, armored string) []byte {
	lines := strings.Split(strings.TrimRight(armored, "\n"), "\n")
	var hdr strings.Builder
	hdr.WriteString("gpgsig " + lines[0] + "\n")
	for _, l := range lines[1:] {
		hdr.WriteString(" " + l + "\n")
	}
	i := bytes.Index(raw, []byte("\n\n"))
	out := append([]byte{}, raw[:i+1]...)
	out = append(out, hdr.String()...)
	return append(out, raw[i+1:]...)
}

// gitVerifies is git's verdict on a commit with the given allowed_signers file.
func gitVerifies(t *testing.T, repo, signers, commit string) (bool, string) {
	t.Helper()
	cmd := exec.Command("git", "-c", "gpg.ssh.allowedSignersFile="+signers, "verify-commit", "-v", commit)
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("git verify-commit: %v", err)
		}
		return false, string(out)
	}
	return true, string(out)
}

// TestSignaturesAgreeWithGit makes real signed commits and checks, case by
// case, that jit accepts exactly what `git verify-commit` accepts, and why.
func TestSignaturesAgreeWithGit(t *testing.T) {
	isolateGit(t)
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	keys := t.TempDir()
	alice := newSSHKey(t, keys, "alice", "ed25519")
	mallory := newSSHKey(t, keys, "mallory", "ed25519")
	carol := newSSHKey(t, keys, "carol", "ecdsa")
	repo := newRepo(t, "base\n")
	base := git(t, repo, "rev-parse", "HEAD")

	const date2024 = "2024-06-01T12:00:00Z"
	commit := func(t *testing.T, branch string, key *sshKey, date string) string {
		t.Helper()
		git(t, repo, "checkout", "-q", "-B", branch, base)
		writeFile(t, filepath.Join(repo, "jit.yaml"), "policy of "+branch+"\n")
		git(t, repo, "add", "jit.yaml")
		var env []string
		if date != "" {
			env = []string{"GIT_COMMITTER_DATE=" + date, "GIT_AUTHOR_DATE=" + date}
		}
		args := []string{"commit", "-q", "-m", branch}
		if key != nil {
			args = append([]string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key.priv}, append(args, "-S")...)
		}
		gitEnv(t, repo, env, nil, args...)
		return git(t, repo, "rev-parse", "HEAD")
	}
	store := func(t *testing.T, branch string, raw []byte) string {
		t.Helper()
		id := gitEnv(t, repo, nil, raw, "hash-object", "-t", "commit", "-w", "--stdin")
		git(t, repo, "update-ref", "refs/heads/"+branch, id)
		return id
	}
	rawOf := func(t *testing.T, id string) []byte {
		return []byte(git(t, repo, "cat-file", "commit", id) + "\n")
	}

	tests := []struct {
		name    string
		make    func(t *testing.T, branch string) string
		signers string // allowed_signers with {alice}, {mallory}, {carol} for keys
		ok      bool
		kind    Kind
		msg     []string
		signer  string
	}{
		{name: "listed key",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, "") },
			signers: "alice@example.com {alice}\n",
			ok:      true, signer: "alice@example.com"},
		{name: "unlisted key",
			make:    func(t *testing.T, b string) string { return commit(t, b, &mallory, "") },
			signers: "alice@example.com {alice}\n",
			kind:    Untrusted, msg: []string{"is signed by an unknown key " + mallory.fp}},
		{name: "expired valid-before",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, date2024) },
			signers: "alice@example.com valid-before=\"20240101Z\" {alice}\n",
			kind:    Untrusted, msg: []string{"expired (valid-before 2024-01-01T00:00:00Z)", "line 1"}},
		{name: "valid-before is inclusive",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, "2024-01-01T00:00:00Z") },
			signers: "alice@example.com valid-before=\"20240101000000Z\" {alice}\n",
			ok:      true, signer: "alice@example.com"},
		{name: "one second after valid-before",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, "2024-01-01T00:00:01Z") },
			signers: "alice@example.com valid-before=\"202401010000Z\" {alice}\n",
			kind:    Untrusted, msg: []string{"expired"}},
		{name: "not yet valid",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, date2024) },
			signers: "alice@example.com valid-after=\"20300101\" {alice}\n",
			kind:    Untrusted, msg: []string{"not yet valid"}},
		{name: "inside validity window",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, date2024) },
			signers: "alice@example.com valid-after=\"20230101Z\",valid-before=\"20250101UTC\" {alice}\n",
			ok:      true, signer: "alice@example.com"},
		{name: "key not allowed for git namespace",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, "") },
			signers: "alice@example.com namespaces=\"file\" {alice}\n",
			kind:    Untrusted, msg: []string{`does not allow it to sign in the "git" namespace`}},
		{name: "key allowed for git among others",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, "") },
			signers: "alice@example.com NAMESPACES=\"file,git\" {alice}\n",
			ok:      true, signer: "alice@example.com"},
		{name: "signature made for another namespace",
			make: func(t *testing.T, b string) string {
				raw := rawOf(t, commit(t, b, nil, ""))
				cmd := exec.Command("ssh-keygen", "-q", "-Y", "sign", "-f", alice.priv, "-n", "file")
				cmd.Stdin = bytes.NewReader(raw)
				sig, err := cmd.Output()
				if err != nil {
					t.Fatal(err)
				}
				return store(t, b, withSignature(raw, string(sig)))
			},
			signers: "alice@example.com {alice}\n",
			kind:    Untrusted, msg: []string{`signed for namespace "file"`}},
		{name: "unsigned",
			make:    func(t *testing.T, b string) string { return commit(t, b, nil, "") },
			signers: "alice@example.com {alice}\n",
			kind:    Unsigned, msg: []string{"is not signed; policy.allowed_signers requires an SSH-signed commit"}},
		{name: "tampered after signing",
			make: func(t *testing.T, b string) string {
				raw := rawOf(t, commit(t, b, &alice, ""))
				return store(t, b, bytes.Replace(raw, []byte("\n\n"+b), []byte("\n\n"+b+" (edited)"), 1))
			},
			signers: "alice@example.com {alice}\n",
			kind:    Untrusted, msg: []string{"does not verify", alice.fp}},
		{name: "signature header moved into the message",
			make: func(t *testing.T, b string) string {
				raw := rawOf(t, commit(t, b, &alice, ""))
				i := bytes.Index(raw, []byte("gpgsig "))
				j := bytes.Index(raw, []byte("\n\n"))
				moved := append(append(append([]byte{}, raw[:i]...), '\n'), raw[i:j+1]...)
				return store(t, b, append(moved, raw[j+1:]...))
			},
			signers: "alice@example.com {alice}\n",
			kind:    Unsigned},
		{name: "gpg signature",
			make: func(t *testing.T, b string) string {
				raw := rawOf(t, commit(t, b, nil, ""))
				return store(t, b, withSignature(raw, "-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n"))
			},
			signers: "alice@example.com {alice}\n",
			kind:    Unsigned, msg: []string{"gpg (openpgp) signature, not an ssh signature"}},
		{name: "wildcard principal",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, "") },
			signers: "# team keys\n\n*@example.com {alice} alice's laptop\n",
			ok:      true, signer: "*@example.com"},
		{name: "several principals",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, "") },
			signers: "\"bob@example.com,alice@example.com\" {alice}\n",
			ok:      true, signer: "bob@example.com"},
		{name: "negated principal pattern",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, "") },
			signers: "!alice@example.com,*@example.com {alice}\n",
			ok:      true, signer: "!alice@example.com"},
		{name: "key only as cert-authority",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, "") },
			signers: "alice@example.com cert-authority {alice}\n",
			kind:    Untrusted, msg: []string{"lists only as a cert-authority"}},
		{name: "namespace-restricted line first, other principal second",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, "") },
			signers: "alice@example.com namespaces=\"file\" {alice}\nbob@example.com {alice}\n",
			kind:    Untrusted, msg: []string{"namespace"}},
		{name: "namespace-restricted line first, same principal second",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, "") },
			signers: "alice@example.com namespaces=\"file\" {alice}\nalice@example.com {alice}\n",
			ok:      true, signer: "alice@example.com"},
		{name: "expired line first, valid line second",
			make:    func(t *testing.T, b string) string { return commit(t, b, &alice, date2024) },
			signers: "alice@example.com valid-before=\"20200101Z\" {alice}\ncarol@example.com {alice}\n",
			ok:      true, signer: "carol@example.com"},
		{name: "ecdsa key",
			make:    func(t *testing.T, b string) string { return commit(t, b, &carol, "") },
			signers: "alice@example.com {alice}\ncarol@example.com {carol}\n",
			ok:      true, signer: "carol@example.com"},
		{name: "other key of the same principal",
			make:    func(t *testing.T, b string) string { return commit(t, b, &mallory, "") },
			signers: "alice@example.com {alice}\nalice@example.com {carol}\n",
			kind:    Untrusted, msg: []string{"unknown key"}},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			branch := "case-" + string(rune('a'+i))
			id := tt.make(t, branch)
			signers := filepath.Join(dir, branch+".allowed_signers")
			content := strings.NewReplacer("{alice}", alice.line, "{mallory}", mallory.line, "{carol}", carol.line).Replace(tt.signers)
			writeFile(t, signers, content)

			gitOK, gitOut := gitVerifies(t, repo, signers, id)
			snap, err := (&Git{Repo: repo, Ref: branch, AllowedSigners: signers}).Load(context.Background())
			if (err == nil) != gitOK {
				t.Fatalf("jit and git disagree: jit error %v, git accepts %v:\n%s", err, gitOK, gitOut)
			}
			if tt.ok != gitOK {
				t.Fatalf("git accepts = %v, the test expects %v:\n%s", gitOK, tt.ok, gitOut)
			}
			if tt.ok {
				if snap.Signer != tt.signer || snap.Commit != id || string(snap.Data) != "policy of "+branch+"\n" {
					t.Errorf("snapshot: signer %q commit %s data %q; want signer %q commit %s", snap.Signer, snap.Commit, snap.Data, tt.signer, id)
				}
				if !strings.HasPrefix(snap.SignerKey, "SHA256:") {
					t.Errorf("SignerKey = %q", snap.SignerKey)
				}
				return
			}
			pe := wantKind(t, err, tt.kind)
			t.Log(pe.Error())
			if !strings.HasPrefix(pe.Error(), "policy commit "+id[:7]+" ") {
				t.Errorf("error %q does not start by naming the commit", pe.Error())
			}
			if pe.Repo != repo || pe.Ref != branch || pe.Commit != id {
				t.Errorf("error fields: repo %q ref %q commit %q", pe.Repo, pe.Ref, pe.Commit)
			}
			for _, s := range tt.msg {
				if !strings.Contains(pe.Error(), s) {
					t.Errorf("error %q does not contain %q", pe.Error(), s)
				}
			}
		})
	}

	t.Run("unsigned message", func(t *testing.T) {
		id := commit(t, "plain", nil, "")
		signers := filepath.Join(dir, "plain.allowed_signers")
		writeFile(t, signers, "alice@example.com "+alice.line+"\n")
		_, err := (&Git{Repo: repo, Ref: "plain", AllowedSigners: signers}).Load(context.Background())
		want := "policy commit " + id[:7] + " is not signed; policy.allowed_signers requires an SSH-signed commit"
		if err == nil || err.Error() != want {
			t.Errorf("error = %v, want %q", err, want)
		}
	})
	t.Run("malformed allowed_signers", func(t *testing.T) {
		commit(t, "bad", &alice, "")
		signers := filepath.Join(dir, "bad.allowed_signers")
		writeFile(t, signers, "alice@example.com "+alice.line+"\nbob@example.com valid-before=\"yesterday\" "+alice.line+"\n")
		_, err := (&Git{Repo: repo, Ref: "bad", AllowedSigners: signers}).Load(context.Background())
		pe := wantKind(t, err, Invalid)
		if !strings.Contains(pe.Error(), "line 2: bad options: invalid \"valid-before\" time") {
			t.Errorf("error = %q", pe.Error())
		}
	})
	t.Run("missing allowed_signers", func(t *testing.T) {
		_, err := (&Git{Repo: repo, AllowedSigners: filepath.Join(dir, "none")}).Load(context.Background())
		pe := wantKind(t, err, Invalid)
		if !strings.Contains(pe.Error(), "policy.allowed_signers") {
			t.Errorf("error = %q", pe.Error())
		}
	})
	t.Run("empty allowed_signers", func(t *testing.T) {
		signers := filepath.Join(dir, "empty.allowed_signers")
		writeFile(t, signers, "# nobody yet\n")
		_, err := (&Git{Repo: repo, AllowedSigners: signers}).Load(context.Background())
		pe := wantKind(t, err, Invalid)
		if !strings.Contains(pe.Error(), "lists no keys") {
			t.Errorf("error = %q", pe.Error())
		}
	})
}
