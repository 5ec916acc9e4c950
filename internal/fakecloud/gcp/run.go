package gcp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Env lists the fake's addresses as KEY=VALUE pairs: FAKE_GCP_GRPC (the
// gRPC endpoint, http://host:port), FAKE_GCP_HTTP, FAKE_GCP_TOKENINFO,
// FAKE_GCP_TOKEN, and gcloud's endpoint overrides.
func (s *Server) Env() []string {
	return append([]string{
		"FAKE_GCP_GRPC=" + s.GRPCEndpoint(),
		"FAKE_GCP_HTTP=" + s.HTTPURL(),
		"FAKE_GCP_TOKENINFO=" + s.TokenInfoURL(),
		"FAKE_GCP_TOKEN=" + s.TokenURL(),
	}, s.GcloudEnv()...)
}

// Run is a command-line front end for scripts (a testscript command, a
// sandbox): it starts a fake from a YAML configuration and serves until ctx
// ends. Arguments:
//
//	-config FILE     the configuration (see Config; required)
//	-grpc-addr ADDR  override grpc_addr
//	-http-addr ADDR  override http_addr
//	-env FILE        also write the Env lines to FILE (0600)
//
// Once listening it writes the Env lines to stdout.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fakegcp", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgFile := fs.String("config", "", "configuration file (YAML)")
	grpcAddr := fs.String("grpc-addr", "", "gRPC listen address (loopback)")
	httpAddr := fs.String("http-addr", "", "HTTP listen address (loopback)")
	envFile := fs.String("env", "", "write the endpoints as KEY=VALUE lines to this file")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("fakegcp: %w", err)
	}
	if *cfgFile == "" || fs.NArg() > 0 {
		return errors.New("fakegcp: usage: fakegcp -config FILE [-grpc-addr ADDR] [-http-addr ADDR] [-env FILE]")
	}
	data, err := os.ReadFile(*cfgFile)
	if err != nil {
		return fmt.Errorf("fakegcp: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return err
	}
	if *grpcAddr != "" {
		cfg.GRPCAddr = *grpcAddr
	}
	if *httpAddr != "" {
		cfg.HTTPAddr = *httpAddr
	}
	s, err := New(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	lines := strings.Join(s.Env(), "\n") + "\n"
	if *envFile != "" {
		if err := os.WriteFile(*envFile, []byte(lines), 0o600); err != nil {
			return fmt.Errorf("fakegcp: %w", err)
		}
	}
	if _, err := io.WriteString(stdout, lines); err != nil {
		return fmt.Errorf("fakegcp: %w", err)
	}
	<-ctx.Done()
	return nil
}
