//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// detach starts c in a session of its own, so the daemon outlives the
// terminal that ran `hypha daemon start`.
func detach(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }

// terminate asks process pid to stop (SIGTERM: the daemon drains and exits).
func terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }
