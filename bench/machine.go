package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// machine describes the host for the report: CPUs, memory, OS, load, and
// the Python side's versions.
func machine(python string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "machine: %d CPUs (%s), %.1f GiB memory, %s, load average %s\n",
		runtime.NumCPU(), procField("/proc/cpuinfo", "model name"), kbField("/proc/meminfo", "MemTotal:")/(1<<20),
		strings.Trim(procField("/etc/os-release", "PRETTY_NAME"), `"`), loadAvg())
	out, err := exec.Command(python, "-c", `import sys, jupyter_server, ipykernel, jupyter_client, huggingface_hub
print("Python %s, jupyter_server %s, ipykernel %s, jupyter_client %s, huggingface_hub %s" % (sys.version.split()[0],
    jupyter_server.__version__, ipykernel.__version__, jupyter_client.__version__, huggingface_hub.__version__))`).Output()
	if err != nil {
		out = []byte(fmt.Sprintf("python versions: %v", err))
	}
	fmt.Fprintf(&b, "software: %s, %s (%s)", runtime.Version(), strings.TrimSpace(string(out)), python)
	return b.String()
}

// procField is the value of the first "name: value" or "name=value" line.
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			k, v, ok = strings.Cut(sc.Text(), "=")
		}
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
