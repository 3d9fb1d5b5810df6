package modal

import (
	"fmt"
	"strings"

	"github.com/sena-labs/sena/core"
)

// Modal bills a sandbox by the second while it runs, warm or busy: a warm
// pool's sandboxes cost money while they wait. These are Modal's list
// prices per hour (https://modal.com/pricing, as of 2025), to state the
// order of a pool's cost before it is started; the bill is Modal's.
var gpuHourly = map[string]float64{
	"T4": 0.59, "L4": 0.80, "A10": 1.10, "A10G": 1.10, "L40S": 1.95, "A100": 2.10, "A100-40GB": 2.10,
	"A100-80GB": 2.50, "RTX-PRO-6000": 3.03, "H100": 3.95, "H100!": 3.95, "H200": 4.54, "B200": 6.25, "B200+": 6.25,
}

const (
	cpuCoreHourly = 0.0473 // per physical core (2 vCPUs)
	memGiBHourly  = 0.0080
	// A sandbox that asks for none gets at least this much (Modal's defaults).
	defaultCores  = 0.125
	defaultMemGiB = 0.125
)

// PricesAsOf says when gpuHourly was read.
const PricesAsOf = "2025"

// HourlyCost estimates what one sandbox of gpu, cpus and memory costs an
// hour on Modal at list prices, and says how it adds up.
func HourlyCost(gpu string, cpus float64, memoryMiB int64) (float64, string, error) {
	g, err := core.ParseGPU(gpu)
	if err != nil {
		return 0, "", err
	}
	var parts []string
	total := 0.0
	if g.Kind != "" {
		kind, err := gpuString(core.GPU{Kind: g.Kind})
		if err != nil {
			return 0, "", err
		}
		price, ok := gpuHourly[strings.ToUpper(kind)]
		if !ok {
			return 0, "", fmt.Errorf("no list price known for Modal GPU %s", kind)
		}
		n := float64(max(g.Count, 1))
		total += n * price
		parts = append(parts, fmt.Sprintf("%g x %s $%.2f", n, kind, price))
	}
	cores := max(cpus/2, defaultCores) // Modal counts physical cores; cpus are vCPUs
	mem := max(float64(memoryMiB)/1024, defaultMemGiB)
	total += cores*cpuCoreHourly + mem*memGiBHourly
	parts = append(parts, fmt.Sprintf("%.3g cores and %.3g GiB $%.2f", cores, mem, cores*cpuCoreHourly+mem*memGiBHourly))
	return total, strings.Join(parts, " + "), nil
}
