package main

import (
	"os/exec"
	"syscall"
)

// maxRSS is a finished command's peak resident set, in MiB.
func maxRSS(cmd *exec.Cmd) float64 {
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024
	}
	return 0
}
