package session

import (
	"fmt"
	"os"
	"strings"
)

// upOwner identifies the process running `up` for a session, so gc can
// tell a session still starting from one whose `up` was killed. The
// process start time guards against a reused pid.
func upOwner() string {
	return fmt.Sprintf("%d:%s", os.Getpid(), procStart(os.Getpid()))
}

// ownerAlive reports whether the process recorded by upOwner still runs.
func ownerAlive(owner string) bool {
	pid, start, ok := strings.Cut(owner, ":")
	if !ok {
		return false
	}
	var n int
	if _, err := fmt.Sscan(pid, &n); err != nil {
		return false
	}
	return procStart(n) == start && start != ""
}

// procStart is field 22 of /proc/PID/stat (start time in clock ticks), or "".
func procStart(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	_, rest, ok := strings.Cut(string(data), ") ")
	if !ok {
		return ""
	}
	f := strings.Fields(rest)
	if len(f) < 20 {
		return ""
	}
	return f[19]
}
