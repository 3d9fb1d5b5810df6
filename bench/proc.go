package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// tagVar marks every process the harness starts, and through inheritance
// the servers and kernels they start, so they can be measured and, at the
// end, found and stopped without touching anything else on the machine.
const tagVar = "SENA_BENCH_TAG"

// tagged lists the pids whose environment holds tagVar=value exactly, or,
// with prefix, tagVar=value followed by anything.
func tagged(value string, prefix bool) []int {
	want := []byte(tagVar + "=" + value)
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, want) || (prefix && bytes.HasPrefix(kv, want)) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// memory is the resident and proportional set size of a group of
// processes, in MiB, and how many processes there were.
type memory struct {
	rss, pss float64
	procs    int
}

// memoryOf sums VmRSS and Pss (shared pages split among their users) over pids.
func memoryOf(pids []int) memory {
	m := memory{procs: len(pids)}
	for _, pid := range pids {
		p := "/proc/" + strconv.Itoa(pid)
		m.rss += kbField(p+"/status", "VmRSS:") / 1024
		m.pss += kbField(p+"/smaps_rollup", "Pss:") / 1024
	}
	return m
}

// kbField reads a "Name:   123 kB" line.
func kbField(path, name string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
			v, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return v
		}
	}
	return 0
}

// killTagged sends SIGKILL to every process tagged with value or a value
// beginning with it, and reports how many there were.
func killTagged(value string) int {
	pids := tagged(value, true)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return len(pids)
}
