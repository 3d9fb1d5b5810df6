package local

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// procRoot is where the process table is read; a variable so tests can point
// it at a fake tree.
var procRoot = "/proc"

// procStat is the part of /proc/PID/stat the provider needs.
type procStat struct {
	State     byte   // R, S, D, Z (zombie), X (dead), ...
	PPID      int    // parent pid
	PGID      int    // process group id
	StartTime uint64 // clock ticks after boot; with the pid, names one process
}

// readStat parses /proc/PID/stat. The command name (field 2) is in
// parentheses and may itself contain spaces and parentheses, so fields are
// counted from the last ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed stat: no ')'")
	}
	// Fields after the name, numbered from 3 (state) as in proc(5).
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, errors.New("malformed stat: too few fields")
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	start, err3 := strconv.ParseUint(f[19], 10, 64) // field 22
	if err := errors.Join(err1, err2, err3); err != nil {
		return procStat{}, fmt.Errorf("malformed stat: %w", err)
	}
	return procStat{State: f[0][0], PPID: ppid, PGID: pgid, StartTime: start}, nil
}

// alive reports whether pid is the process that started at startTime and has
// not exited. A zombie has exited: only its parent's wait is missing.
func alive(pid int, startTime uint64) bool {
	st, err := readStat(pid)
	return err == nil && st.StartTime == startTime && st.State != 'Z' && st.State != 'X'
}

// environVar returns one variable from /proc/PID/environ. It reads the
// environment only to pick out name; nothing else leaves this function.
func environVar(pid int, name string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "environ"))
	if err != nil {
		return "", false
	}
	prefix := []byte(name + "=")
	for kv := range bytes.SplitSeq(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, prefix); ok {
			return string(v), true
		}
	}
	return "", false
}

// cmdline returns the arguments of pid.
func cmdline(pid int) []string {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cmdline"))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// pids lists the numeric entries of the process table.
func pids() ([]int, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}

// proc names one process: a pid and the start time that tells it from a
// later process with the same pid.
type proc struct {
	PID       int
	StartTime uint64
}

// descendants returns every live process below root in the process tree.
// Kernels start in sessions of their own, so killing the server's process
// group does not reach them; Destroy uses this list to finish them off.
func descendants(root int) []proc {
	all, err := pids()
	if err != nil {
		return nil
	}
	children := map[int][]proc{}
	for _, pid := range all {
		if st, err := readStat(pid); err == nil {
			children[st.PPID] = append(children[st.PPID], proc{pid, st.StartTime})
		}
	}
	var out []proc
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c.PID)
		}
	}
	return out
}

// signalGroup sends sig to the process group led by pid, if pid is still the
// process that started at startTime.
func signalGroup(pid int, startTime uint64, sig syscall.Signal) {
	if st, err := readStat(pid); err == nil && st.StartTime == startTime && st.PGID == pid {
		_ = syscall.Kill(-pid, sig)
	}
}

// signalEach sends sig to each listed process that is still the same process.
func signalEach(ps []proc, sig syscall.Signal) {
	for _, p := range ps {
		if alive(p.PID, p.StartTime) {
			_ = syscall.Kill(p.PID, sig)
		}
	}
}
