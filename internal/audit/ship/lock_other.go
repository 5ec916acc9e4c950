//go:build !unix && !windows

package ship

import (
	"errors"
	"os"
)

func tryLock(*os.File) (bool, error) {
	return false, errors.New("audit sink cursors cannot be locked on this platform")
}

func unlock(*os.File) error { return nil }
