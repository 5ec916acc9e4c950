//go:build !unix

package session

import (
	"os"
	"syscall"
)

// forwardedSignals are the signals Windows delivers to a console process.
var forwardedSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}
