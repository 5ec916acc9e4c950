package policysource

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// sigNamespace is the sshsig namespace git signs commits in.
const sigNamespace = "git"

// verifyCommit checks that the commit carries a valid SSH signature by a key
// that signers allows for the "git" namespace at the commit's committer time.
// It returns the principal and the key fingerprint.
//
// The key lookup reproduces what `git verify-commit` does with
// gpg.ssh.allowedSignersFile: `ssh-keygen -Y find-principals` (first line
// with this key, valid at the committer time, namespaces ignored), then for
// each principal found `ssh-keygen -Y verify -I principal -n git` (any line
// whose patterns match that principal, with this key, allowing "git", valid at
// that time). Certificates are not supported: a certificate-signed commit is
// rejected even where git would accept it.
func verifyCommit(info *commitInfo, commit string, signers []signerLine, signersPath string) (principal, fingerprint string, err error) {
	c := short(commit)
	if info.signature == nil {
		return "", "", &Error{Kind: Unsigned, Commit: commit,
			Msg: fmt.Sprintf("policy commit %s is not signed; policy.allowed_signers requires an SSH-signed commit", c)}
	}
	switch {
	case bytes.HasPrefix(info.signature, []byte("-----BEGIN SSH SIGNATURE-----")):
	case bytes.HasPrefix(info.signature, []byte("-----BEGIN PGP SIGNATURE-----")):
		return "", "", &Error{Kind: Unsigned, Commit: commit,
			Msg: fmt.Sprintf("policy commit %s has a gpg (openpgp) signature, not an ssh signature; policy.allowed_signers requires an SSH-signed commit (git config gpg.format ssh)", c)}
	case bytes.HasPrefix(info.signature, []byte("-----BEGIN SIGNED MESSAGE-----")):
		return "", "", &Error{Kind: Unsigned, Commit: commit,
			Msg: fmt.Sprintf("policy commit %s has an x509 signature, not an ssh signature; policy.allowed_signers requires an SSH-signed commit (git config gpg.format ssh)", c)}
	default:
		return "", "", &Error{Kind: Unsigned, Commit: commit,
			Msg: fmt.Sprintf("policy commit %s has a signature of an unknown kind, not an ssh signature; policy.allowed_signers requires an SSH-signed commit", c)}
	}
	sig, err := sshsig.Unarmor(info.signature)
	if err != nil {
		return "", "", &Error{Kind: Untrusted, Commit: commit, Err: err,
			Msg: fmt.Sprintf("policy commit %s has a malformed ssh signature: %v", c, err)}
	}
	fingerprint = ssh.FingerprintSHA256(sig.PublicKey)
	if sig.Namespace != sigNamespace {
		return "", fingerprint, &Error{Kind: Untrusted, Commit: commit,
			Msg: fmt.Sprintf("policy commit %s is signed for namespace %q, not %q; it was not signed by git", c, sig.Namespace, sigNamespace)}
	}
	if _, ok := sig.PublicKey.(*ssh.Certificate); ok {
		return "", fingerprint, &Error{Kind: Untrusted, Commit: commit,
			Msg: fmt.Sprintf("policy commit %s is signed with an ssh certificate; certificates (cert-authority) are not supported, list the signing key itself in policy.allowed_signers", c)}
	}
	if err := sshsig.Verify(bytes.NewReader(info.payload), sig, sig.PublicKey, sig.HashAlgorithm, sigNamespace); err != nil {
		return "", fingerprint, &Error{Kind: Untrusted, Commit: commit, Err: err,
			Msg: fmt.Sprintf("policy commit %s has an ssh signature by %s that does not verify: the commit was changed after signing", c, fingerprint)}
	}

	keyBytes := sig.PublicKey.Marshal()
	sameKey := func(l *signerLine) bool { return !l.certAuthority && bytes.Equal(l.key.Marshal(), keyBytes) }
	t := info.committerTime.Unix()

	var found *signerLine
	for i := range signers {
		if sameKey(&signers[i]) && signers[i].validAt(t) {
			found = &signers[i]
			break
		}
	}
	if found == nil {
		for i := range signers {
			if l := &signers[i]; sameKey(l) {
				return "", fingerprint, &Error{Kind: Untrusted, Commit: commit,
					Msg: fmt.Sprintf("policy commit %s is signed by %s (%s), whose entry on line %d of %s is %s at the commit time %s",
						c, fingerprint, l.principals, l.line, signersPath, validityProblem(l, t), info.committerTime.UTC().Format(time.RFC3339))}
			}
		}
		for i := range signers {
			if l := &signers[i]; l.certAuthority && bytes.Equal(l.key.Marshal(), keyBytes) {
				return "", fingerprint, &Error{Kind: Untrusted, Commit: commit,
					Msg: fmt.Sprintf("policy commit %s is signed by %s, which line %d of %s lists only as a cert-authority; certificates are not supported, list the key without cert-authority", c, fingerprint, l.line, signersPath)}
			}
		}
		return "", fingerprint, &Error{Kind: Untrusted, Commit: commit,
			Msg: fmt.Sprintf("policy commit %s is signed by an unknown key %s; it is not listed in %s (policy.allowed_signers)", c, fingerprint, signersPath)}
	}
	for _, p := range strings.Split(found.principals, ",") {
		if p == "" {
			break // ssh-keygen stops printing principals at an empty one
		}
		for i := range signers {
			l := &signers[i]
			if matchPatternList(p, l.principals) == 1 && sameKey(l) && l.validAt(t) &&
				(!l.hasNamespaces || matchPatternList(sigNamespace, l.namespaces) == 1) {
				return p, fingerprint, nil
			}
		}
	}
	return "", fingerprint, &Error{Kind: Untrusted, Commit: commit,
		Msg: fmt.Sprintf("policy commit %s is signed by %s (%s), but line %d of %s does not allow it to sign in the %q namespace (namespaces=%q)",
			c, fingerprint, found.principals, found.line, signersPath, sigNamespace, found.namespaces)}
}

func validityProblem(l *signerLine, t int64) string {
	if l.validAfter != 0 && t < l.validAfter {
		return "not yet valid (valid-after " + time.Unix(l.validAfter, 0).UTC().Format(time.RFC3339) + ")"
	}
	return "expired (valid-before " + time.Unix(l.validBefore, 0).UTC().Format(time.RFC3339) + ")"
}
