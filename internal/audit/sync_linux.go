package audit

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncData flushes f's data and the metadata needed to read it back (its
// size), but not its times: an in-place overwrite then costs a data write
// and a cache flush, without a filesystem journal commit.
func syncData(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
