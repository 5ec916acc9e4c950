// Package gcp is a loopback fake of the Google Cloud APIs jit's GCP
// provider uses, speaking the real wire protocols so that tests drive it
// through the official Go clients (endpoint override) and `jit dev` and the
// real gcloud CLI can run against it offline:
//
//   - gRPC (one listener): Resource Manager v3 Projects, Folders and
//     Organizations GetIamPolicy/SetIamPolicy, IAM Credentials
//     GenerateAccessToken, Privileged Access Manager CreateGrant, GetGrant,
//     ApproveGrant, DenyGrant, RevokeGrant (a long-running operation) and
//     GetEntitlement, and google.longrunning Operations.
//   - HTTP (another listener): the OAuth2 tokeninfo and token endpoints,
//     the REST surface gcloud calls (cloudresourcemanager v1 and v3
//     getIamPolicy/setIamPolicy, iamcredentials v1 generateAccessToken),
//     and admin endpoints under /_fake/ for scripts.
//
// IAM semantics are the real ones that matter to jit: an etag per policy
// revision and codes.Aborted for a stale one, version 3 needed to read or
// write conditions (a version 1 read of a conditional policy returns the
// lossy view with `_withcond_` roles), no conditions on basic roles, and
// permissions that come from the policy itself, conditions evaluated on
// the fake's clock, so a time-bound binding really ends. Every request
// must carry a bearer token the fake issued or was configured with.
//
// Every listener binds a loopback address; the fake never talks to a real
// cloud.
package gcp
