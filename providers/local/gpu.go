package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
)

// hostGPU is one GPU as nvidia-smi reports it.
type hostGPU struct {
	Index int
	Name  string // "NVIDIA H100 80GB HBM3"
}

// nvidiaSMI returns the nvidia-smi command: $SENA_NVIDIA_SMI when set (tests
// point it at a script printing a real machine's output), else nvidia-smi on
// PATH. ok is false when there is none.
func nvidiaSMI() (path string, ok bool) {
	if p := os.Getenv("SENA_NVIDIA_SMI"); p != "" {
		return p, true
	}
	p, err := exec.LookPath("nvidia-smi")
	return p, err == nil
}

// errNoNvidiaSMI is returned by queryGPUs when the host has no nvidia-smi.
var errNoNvidiaSMI = core.Errorf(core.ErrUnsupported, "no NVIDIA GPU found (nvidia-smi not on PATH); drop --gpu to run on CPU")

// queryGPUs lists the host's GPUs.
func queryGPUs(ctx context.Context) ([]hostGPU, error) {
	path, ok := nvidiaSMI()
	if !ok {
		return nil, errNoNvidiaSMI
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--query-gpu=index,name", "--format=csv,noheader").Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return nil, core.Errorf(core.ErrUnsupported, "no usable NVIDIA GPU: %s failed: %s", path, msg)
	}
	return parseGPUs(string(out))
}

// parseGPUs reads `nvidia-smi --query-gpu=index,name --format=csv,noheader`:
// one "0, NVIDIA H100 80GB HBM3" line per GPU.
func parseGPUs(out string) ([]hostGPU, error) {
	var gpus []hostGPU
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		idx, name, ok := strings.Cut(line, ",")
		i, err := strconv.Atoi(strings.TrimSpace(idx))
		if !ok || err != nil {
			return nil, core.Errorf(core.ErrUnsupported, "cannot read nvidia-smi output line %q (want INDEX, NAME)", line)
		}
		gpus = append(gpus, hostGPU{Index: i, Name: strings.TrimSpace(name)})
	}
	return gpus, nil
}

// gpuMatches reports whether a GPU named name is of kind: every '-'-separated
// part of the kind must be a word of the name, so "A100-80GB" matches
// "NVIDIA A100-SXM4-80GB" and "NVIDIA A100 80GB PCIe" but not
// "NVIDIA A100-PCIE-40GB", and "L4" matches "NVIDIA L4" but not "NVIDIA L40S".
func gpuMatches(kind, name string) bool {
	words := map[string]bool{}
	for w := range strings.FieldsFuncSeq(strings.ToUpper(name), func(r rune) bool { return r == ' ' || r == '-' }) {
		words[w] = true
	}
	for part := range strings.SplitSeq(strings.ToUpper(kind), "-") {
		if !words[part] {
			return false
		}
	}
	return true
}

// hostKinds returns the known GPU kinds among gpus, in core.KnownGPUKinds order.
func hostKinds(gpus []hostGPU) []string {
	var kinds []string
	for _, k := range core.KnownGPUKinds {
		for _, g := range gpus {
			if gpuMatches(k, g.Name) {
				kinds = append(kinds, k)
				break
			}
		}
	}
	return kinds
}

// pickGPUs chooses want.Count GPUs of want.Kind and returns their indices as
// CUDA_VISIBLE_DEVICES wants them ("0,1").
func pickGPUs(gpus []hostGPU, want core.GPU) (string, error) {
	count := max(want.Count, 1)
	var picked []string
	for _, g := range gpus {
		if gpuMatches(want.Kind, g.Name) && len(picked) < count {
			picked = append(picked, strconv.Itoa(g.Index))
		}
	}
	if len(picked) < count {
		var have []string
		for _, g := range gpus {
			have = append(have, fmt.Sprintf("%d: %s", g.Index, g.Name))
		}
		report := strings.Join(have, "; ")
		if report == "" {
			report = "no GPUs"
		}
		if len(picked) == 0 {
			return "", core.Errorf(core.ErrUnsupported, "host has no %s GPU; nvidia-smi reports: %s", want.Kind, report)
		}
		return "", core.Errorf(core.ErrUnsupported, "host has %d %s GPU(s), %d requested; nvidia-smi reports: %s", len(picked), want.Kind, count, report)
	}
	return strings.Join(picked, ","), nil
}
