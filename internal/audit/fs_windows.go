//go:build windows

package audit

import (
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// lockFile locks the first byte of f, which excludes other processes and
// other handles in this one, like flock does on Unix.
func lockFile(f *os.File, exclusive bool) error {
	var flags uint32
	if exclusive {
		flags = windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	ol := new(windows.Overlapped)
	return windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, ol)
}

// syncDir is a no-op: Windows cannot open a directory for flushing, and NTFS
// journals directory entries itself.
func syncDir(string) error { return nil }

// checkPrivate only checks the file kind: Windows permissions are ACLs, which
// os.FileMode does not describe.
func checkPrivate(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return nil
}

func unlockFile(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, new(windows.Overlapped))
}
