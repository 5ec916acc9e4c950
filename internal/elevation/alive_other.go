//go:build !unix

package elevation

import "os"

// processAlive reports whether a process exists; on Windows FindProcess
// opens a handle and fails when there is none.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}
