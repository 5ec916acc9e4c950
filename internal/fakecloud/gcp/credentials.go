package gcp

import (
	"context"
	"strings"
	"time"

	credentialspb "cloud.google.com/go/iam/credentials/apiv1/credentialspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Lifetimes of impersonated tokens.
const (
	defaultLifetime  = time.Hour
	maxLifetime      = time.Hour
	extendedLifetime = 12 * time.Hour
)

type credentialsServer struct {
	credentialspb.UnimplementedIAMCredentialsServer
	s *Server
}

func (cs *credentialsServer) GenerateAccessToken(ctx context.Context, req *credentialspb.GenerateAccessTokenRequest) (*credentialspb.GenerateAccessTokenResponse, error) {
	tok, exp, err := cs.s.generateAccessToken(callerFrom(ctx), req.GetName(), req.GetDelegates(), req.GetScope(), req.GetLifetime().AsDuration(), req.GetLifetime() != nil)
	if err != nil {
		return nil, err
	}
	return &credentialspb.GenerateAccessTokenResponse{AccessToken: tok, ExpireTime: timestamppb.New(exp)}, nil
}

// generateAccessToken is shared by the gRPC and REST surfaces.
func (s *Server) generateAccessToken(c caller, name string, delegates, scopes []string, lifetime time.Duration, lifetimeSet bool) (string, time.Time, error) {
	email, ok := strings.CutPrefix(name, "projects/-/serviceAccounts/")
	if !ok || email == "" {
		return "", time.Time{}, status.Errorf(codes.InvalidArgument, "Invalid form of account ID %s. Should be [Gaia ID |Email |Unique ID |] of the account", name)
	}
	if len(delegates) > 0 {
		return "", time.Time{}, status.Error(codes.InvalidArgument, "delegation chains are not supported by the fake")
	}
	if len(scopes) == 0 {
		return "", time.Time{}, status.Error(codes.InvalidArgument, "Scope required.")
	}
	if !lifetimeSet {
		lifetime = defaultLifetime
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sa, ok := s.sas[email]
	if !ok || !anyMatches(sa.TokenCreators, c) {
		return "", time.Time{}, status.Errorf(codes.PermissionDenied, "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).")
	}
	limit := maxLifetime
	if sa.ExtendedLifetime {
		limit = extendedLifetime
	}
	if lifetime <= 0 || lifetime > limit || lifetime%time.Second != 0 {
		return "", time.Time{}, status.Errorf(codes.InvalidArgument, "The lifetime must be between 1 and %d whole seconds.", int(limit/time.Second))
	}
	tok := s.issueLocked(email, lifetime, append([]string(nil), scopes...), "impersonation")
	return tok, s.tokens[tok].expires, nil
}
