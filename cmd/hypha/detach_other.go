//go:build !unix

package main

import (
	"errors"
	"os/exec"
)

func detach(*exec.Cmd) {}

func terminate(int) error { return errors.New("signals are not supported on this system") }
