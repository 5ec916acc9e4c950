//go:build unix

package policysource

import (
	"os/exec"
	"syscall"
)

// detach runs cmd in a new session: without a controlling terminal nothing it
// starts can prompt there. Cancelling kills the whole process group, ssh too.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
