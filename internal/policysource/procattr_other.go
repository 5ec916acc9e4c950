//go:build !unix

package policysource

import "os/exec"

// detach is a no-op where sessions do not exist; GIT_TERMINAL_PROMPT=0 and
// ssh's BatchMode still forbid prompts.
func detach(*exec.Cmd) {}
