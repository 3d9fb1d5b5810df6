package modal

import (
	"fmt"
	"strings"

	"github.com/sena-labs/sena/core"
)

// gpuKinds are the GPU kinds Modal documents today
// (https://modal.com/docs/guide/gpu), under the names modal-go sends (it
// upper-cases whatever it is given). "A10G" is Modal's older name for the
// A10, still accepted; "H100!" and "B200+" are Modal's upgrade rules.
var gpuKinds = []string{
	"T4", "L4", "A10", "A10G", "L40S", "A100", "A100-40GB", "A100-80GB", "RTX-PRO-6000",
	"H100", "H100!", "H200", "B200", "B200+",
}

// maxGPUs is the most GPUs of one kind Modal attaches to one container.
const maxGPUs = 8

// maxGPUsOf lists the kinds with a lower per-container limit.
var maxGPUsOf = map[string]int{"A10": 4, "A10G": 4}

// gpuNote says what the kinds whose name leaves a choice mean on Modal;
// `sena providers` shows it.
const gpuNote = `"A100" is Modal's A100 with 40 GB (Modal may place it on an 80 GB card; ask A100-80GB to be sure of 80 GB); ` +
	`"H100" may run on an H200, "H100!" never; "B200+" may run on a B300`

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
