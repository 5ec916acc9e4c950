package gcpspec

// Names shared with the provider's tests.
const (
	alice      = "alice@example.com"
	aliceTok   = "ya29.alice-base-token"
	aliceRefr  = "1//alice-refresh-token"
	bob        = "bob@example.com"
	bobTok     = "ya29.bob-base-token"
	carol      = "carol@example.com" // approver
	carolTok   = "ya29.carol-base-token"
	admin      = "admin@example.com"
	adminTok   = "ya29.admin-base-token"
	ciSA       = "ci-runner@jit-proj.iam.gserviceaccount.com"
	ciTok      = "ya29.ci-base-token"
	deployer   = "deployer@jit-proj.iam.gserviceaccount.com"
	longSA     = "batch@jit-proj.iam.gserviceaccount.com" // lifetime extension
	lockedSA   = "locked@jit-proj.iam.gserviceaccount.com"
	proj       = "projects/jit-proj"
	lockedProj = "projects/locked-proj"
	folder     = "folders/123456789012"
	org        = "organizations/987654321098"
	entOpen    = "projects/jit-proj/locations/global/entitlements/prod-admin"
	entApprove = "projects/jit-proj/locations/global/entitlements/break-glass"
	entClosed  = "projects/jit-proj/locations/global/entitlements/closed"
	entSlow    = "projects/jit-proj/locations/global/entitlements/slow"
)
