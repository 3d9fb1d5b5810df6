package modal

import (
	"fmt"
	"strings"

	"github.com/sena-labs/sena/core"
)

// gpuKinds are the core GPU kinds Modal offers, under the names modal-go
// sends (it upper-cases whatever it is given; Modal validates).
var gpuKinds = []string{"T4", "L4", "A10G", "L40S", "A100", "A100-40GB", "A100-80GB", "H100", "H200", "B200"}

// maxGPUs is the most GPUs of one kind Modal attaches to one container.
const maxGPUs = 8

// maxGPUsOf lists the kinds with a lower per-container limit
// (https://modal.com/docs/guide/gpu).
var maxGPUsOf = map[string]int{"A10G": 4}

// gpuString turns a core GPU request into modal-go's "KIND" or "KIND:N",
// or an error, before anything is sent to Modal.
func gpuString(g core.GPU) (string, error) {
	if g.Kind == "" {
		return "", nil
	}
	kind := ""
	for _, k := range gpuKinds {
		if strings.EqualFold(k, g.Kind) {
			kind = k
		}
	}
	if kind == "" {
		return "", core.Errorf(core.ErrUnsupported, "Modal does not offer GPU kind %s; it offers %s", g.Kind, strings.Join(gpuKinds, ", "))
	}
	count := max(g.Count, 1)
	limit := maxGPUs
	if l, ok := maxGPUsOf[kind]; ok {
		limit = l
	}
	if count > limit {
		return "", core.Errorf(core.ErrUnsupported, "Modal attaches at most %d %s GPUs to one sandbox, %d requested", limit, kind, count)
	}
	if count == 1 {
		return kind, nil
	}
	return fmt.Sprintf("%s:%d", kind, count), nil
}
