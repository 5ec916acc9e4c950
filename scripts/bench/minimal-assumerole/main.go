// Command minimal-assumerole is the yardstick of `make bench`: the least a Go
// program can do to get what `jit elevate <target> -- true` gets, namely one
// STS AssumeRole call with the AWS SDK's default configuration (environment,
// shared config, credential chain), then exit. It reads the same environment
// as jit, so inside `jit dev` it talks to the same loopback fake with the same
// base credentials.
//
// It is a benchmark helper, not part of jit.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	role := flag.String("role", "arn:aws:iam::111111111111:role/sandbox-admin", "role to assume")
	dur := flag.Duration("for", 15*time.Minute, "session duration")
	verbose := flag.Bool("v", false, "print the temporary access key id (not a secret)")
	flag.Parse()
	if err := run(*role, *dur, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "minimal-assumerole:", err)
		os.Exit(1)
	}
}

func run(role string, dur time.Duration, verbose bool) error {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load aws configuration: %w", err)
	}
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(role),
		RoleSessionName: aws.String("bench-minimal"),
		DurationSeconds: aws.Int32(int32(dur / time.Second)),
	})
	if err != nil {
		return fmt.Errorf("assume role %s: %w", role, err)
	}
	if verbose {
		fmt.Println(aws.ToString(out.Credentials.AccessKeyId))
	}
	return nil
}
