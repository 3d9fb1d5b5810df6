package modal

import (
	"fmt"
	"strings"
	"testing"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
)

// Issue 15 #10: every GPU name Modal documents today, with counts up to its
// limit, goes from the config (as `sena up --gpu` parses it) to a request
// the strict fake accepts, under the name Modal documents.
func TestEveryGPUModalDocuments(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	info, err := p.Info(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]int{"T4": 8, "L4": 8, "A10": 4, "L40S": 8, "A100": 8, "A100-40GB": 8, "A100-80GB": 8,
		"RTX-PRO-6000": 8, "H100": 8, "H100!": 8, "H200": 8, "B200": 8, "B200+": 8}
	i := 0
	for kind, limit := range docs {
		for _, n := range []int{1, limit} {
			flag := strings.ToLower(kind)
			if n > 1 {
				flag = fmt.Sprintf("%s:%d", flag, n)
			}
			g, err := core.ParseGPU(flag)
			if err != nil {
				t.Errorf("--gpu %s: %v", flag, err)
				continue
			}
			if err := info.Capabilities.CheckGPU(Name, g); err != nil {
				t.Errorf("--gpu %s: %v", flag, err)
				continue
			}
			i++
			req := minimalRequest(fmt.Sprintf("sena-gpu-%d", i))
			req.Spec.GPU = g
			if _, err := p.Create(testContext(t), req); err != nil {
				t.Errorf("--gpu %s: Create: %v", flag, err)
				continue
			}
			reqs := fakemodal.Requests[*pb.SandboxCreateRequest](fake, "SandboxCreate")
			gc := reqs[len(reqs)-1].GetDefinition().GetResources().GetGpuConfig()
			if gc.GetGpuType() != kind || int(gc.GetCount()) != n {
				t.Errorf("--gpu %s sent %s x%d, want %s x%d", flag, gc.GetGpuType(), gc.GetCount(), kind, n)
			}
		}
	}
	// `sena providers` shows the description: it says which A100 "A100" is.
	if !strings.Contains(info.Description, `"A100" is Modal's A100 with 40 GB`) {
		t.Errorf("Info's description does not say what A100 means: %q", info.Description)
	}
}
