//go:build !unix

package daemon

import (
	"errors"
	"os"
)

var errLocked = errors.New("locked")

// acquireLock: the daemon needs flock(2) and Unix sockets.
func acquireLock(string) (*os.File, error) {
	return nil, errors.New("the hypha daemon runs on Unix-like systems (Linux, macOS, BSD)")
}

func lockHolder(string) (int, bool) { return 0, false }

func releaseLock(f *os.File) { _ = f.Close() }
