package local

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/sena-labs/sena/core"
)

// options are the local provider's own settings (provider_options).
type options struct {
	// Python is the interpreter to run; --python is its shorthand.
	Python string `json:"python,omitempty"`
	// AcknowledgeVisibleModels is read by core (hidden models on the host).
	AcknowledgeVisibleModels bool `json:"acknowledge_visible_models,omitempty"`
}

// optionsSchema is the JSON Schema of options, as Info declares it.
var optionsSchema = json.RawMessage(`{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "python": {"type": "string", "description": "an interpreter with jupyter_server and ipykernel, run as the sandbox's Python (--python is shorthand); default: a virtual environment Sena builds"},
    "acknowledge_visible_models": {"type": "boolean", "description": "with hide_models: accept that the kernel runs on the host and can read the model cache and Sena's state, so hidden models are kept out of the notebook but not blinded"}
  }
}`)

// cpuList picks the CPUs a sandbox limited to n may run on: the first n of
// those this process may use. The local provider limits CPUs by affinity,
// so n must be whole.
func cpuList(n float64) (string, error) {
	if n == 0 {
		return "", nil
	}
	allowed, err := allowedCPUs()
	if err != nil {
		return "", core.Errorf(core.ErrUnsupported, "--cpus on the local provider: %v", err)
	}
	if n != math.Trunc(n) || n < 1 {
		return "", core.Errorf(core.ErrUnsupported, "cpus %v: the local provider pins the sandbox to whole CPUs; give a whole number, or use the docker provider for fractions", n)
	}
	if int(n) > len(allowed) {
		return "", core.Errorf(core.ErrUnsupported, "cpus %v: this host lets Sena use %d CPUs", n, len(allowed))
	}
	var ids []string
	for _, c := range allowed[:int(n)] {
		ids = append(ids, strconv.Itoa(c))
	}
	return strings.Join(ids, ","), nil
}

// allowedCPUs reads this process's CPU affinity from /proc/self/status.
func allowedCPUs() ([]int, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, fmt.Errorf("read the CPU affinity: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return parseCPUList(strings.TrimSpace(v))
		}
	}
	return nil, fmt.Errorf("no Cpus_allowed_list in /proc/self/status")
}

// parseCPUList reads a kernel CPU list such as "0-3,8,10-11".
func parseCPUList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("CPU list %q: %v", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("CPU list %q: %v", s, err)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}
