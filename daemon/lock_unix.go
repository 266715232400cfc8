//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// acquireLock takes the daemon lock of home: an exclusive flock on the lock
// file, released by the kernel when the process ends however it ends, so a
// killed daemon never leaves a stale lock. The file holds the owner's pid.
func acquireLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the daemon lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

var errLocked = errors.New("locked")

// lockHolder returns the pid written in the lock file and whether a
// process holds the lock now.
func lockHolder(path string) (pid int, held bool) {
	b, err := os.ReadFile(path)
	if err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return pid, false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return pid, true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return pid, false
}

func releaseLock(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	_ = f.Close()
}
