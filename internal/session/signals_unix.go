//go:build unix

package session

import (
	"os"
	"syscall"
)

// forwardedSignals are passed on to the child.
var forwardedSignals = []os.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGINT, syscall.SIGQUIT}
