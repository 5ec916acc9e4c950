//go:build !unix && !windows

package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

func lockFile(*os.File, bool) error {
	return errors.New("audit journal locking is not supported on this platform")
}

func syncDir(string) error { return nil }

func checkPrivate(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return nil
}

func unlockFile(*os.File) error { return nil }
