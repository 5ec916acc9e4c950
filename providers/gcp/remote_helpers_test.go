package gcp

import (
	"errors"
	"os"
)

// startEnv is the environment before any test changed it.
var startEnv = os.Environ()

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "jit-gcp-test-") }

func errorsAs(err error, target any) bool { return errors.As(err, target) }
