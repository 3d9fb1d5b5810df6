package docker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/sena-labs/sena/core"
)

// nvidiaSMIOutput is probeScript's output on a mixed host: two H100s, an
// A100 in MIG mode with two slices, and an L40S.
const nvidiaSMIOutput = `0, GPU-h100-a, NVIDIA H100 80GB HBM3, 81559, Disabled
1, GPU-h100-b, NVIDIA H100 80GB HBM3, 81559, Disabled
2, GPU-a100-m, NVIDIA A100-SXM4-40GB, 40960, Enabled
3, GPU-l40s-a, NVIDIA L40S, 46068, [N/A]
--- MIG
GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-h100-a)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-h100-b)
GPU 2: NVIDIA A100-SXM4-40GB (UUID: GPU-a100-m)
  MIG 3g.20gb     Device  0: (UUID: MIG-a100-0)
  MIG 2g.10gb     Device  1: (UUID: MIG-a100-1)
GPU 3: NVIDIA L40S (UUID: GPU-l40s-a)
`

func TestParseGPUs(t *testing.T) {
	gpus, err := parseGPUs(nvidiaSMIOutput)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range gpus {
		got = append(got, fmt.Sprintf("%s %s %q %d %s %s %v", g.Index, g.UUID, g.Name, g.MiB, g.Parent, g.MIG, g.HasMIG))
	}
	want := []string{
		`0 GPU-h100-a "NVIDIA H100 80GB HBM3" 81559   false`,
		`1 GPU-h100-b "NVIDIA H100 80GB HBM3" 81559   false`,
		`2 GPU-a100-m "NVIDIA A100-SXM4-40GB" 40960   true`,
		`3 GPU-l40s-a "NVIDIA L40S" 46068   false`,
		`2:0 MIG-a100-0 "NVIDIA A100-SXM4-40GB" 20480 GPU-a100-m 3g.20gb false`,
		`2:1 MIG-a100-1 "NVIDIA A100-SXM4-40GB" 10240 GPU-a100-m 2g.10gb false`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseGPUs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// probeScript's output on a real host: an H200 with driver 580.159.04.
	h200 := "0, GPU-724a7f7a-55b1-e452-609a-e0cf3b352543, NVIDIA H200, 143771, Disabled\n--- MIG\nGPU 0: NVIDIA H200 (UUID: GPU-724a7f7a-55b1-e452-609a-e0cf3b352543)\n"
	if gpus, err := parseGPUs(h200); err != nil || len(gpus) != 1 || gpus[0].UUID != "GPU-724a7f7a-55b1-e452-609a-e0cf3b352543" || gpus[0].MiB != 143771 || !gpuNameMatches(gpus[0].Name, "H200") || gpus[0].HasMIG {
		t.Errorf("parseGPUs(H200) = %+v, %v", gpus, err)
	}
	if _, err := parseGPUs("garbage\n--- MIG\n"); err == nil {
		t.Error("parseGPUs(garbage) = nil error")
	}
}

func TestPickGPUs(t *testing.T) {
	gpus, err := parseGPUs(nvidiaSMIOutput)
	if err != nil {
		t.Fatal(err)
	}
	pick := func(holders []holder, r gpuRequest) ([]string, error) {
		ds, err := pickGPUs(gpus, holders, r)
		return uuidsOf(ds), err
	}
	h100 := gpuRequest{GPU: core.GPU{Kind: "H100", Count: 1}}

	if got, err := pick(nil, gpuRequest{GPU: core.GPU{Kind: "H100", Count: 2}}); err != nil || !slices.Equal(got, []string{"GPU-h100-a", "GPU-h100-b"}) {
		t.Errorf("H100:2 on a free host = %q, %v", got, err)
	}
	held := []holder{{Session: "alice", UUIDs: []string{"GPU-h100-a"}}}
	if got, err := pick(held, h100); err != nil || !slices.Equal(got, []string{"GPU-h100-b"}) {
		t.Errorf("H100 with GPU 0 held = %q, %v; want the other H100", got, err)
	}
	// The kind decides, not the index: GPU 0 is an H100, the L40S is GPU 3.
	if got, err := pick(nil, gpuRequest{GPU: core.GPU{Kind: "L40S"}}); err != nil || !slices.Equal(got, []string{"GPU-l40s-a"}) {
		t.Errorf("L40S on a mixed host = %q, %v", got, err)
	}
	// More than are free: a clear error naming what is in use, by whom.
	_, err = pick(held, gpuRequest{GPU: core.GPU{Kind: "H100", Count: 2}})
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "1 of this host's 2 H100 GPUs are free, 2 asked for") || !strings.Contains(err.Error(), "GPU 0 (GPU-h100-a) by session alice") {
		t.Errorf("H100:2 with one held = %v", err)
	}
	// More than the host has, or a kind it lacks.
	if _, err := pick(nil, gpuRequest{GPU: core.GPU{Kind: "H100", Count: 3}}); !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), "has 2 H100") {
		t.Errorf("H100:3 on two = %v", err)
	}
	if _, err := pick(nil, gpuRequest{GPU: core.GPU{Kind: "T4"}}); !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), "no T4 GPU") {
		t.Errorf("T4 on a host without = %v", err)
	}
	// A GPU in MIG mode is not handed out whole.
	if _, err := pick(nil, gpuRequest{GPU: core.GPU{Kind: "A100"}}); !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), "MIG-mode GPUs are offered only through gpu_devices") {
		t.Errorf("A100 whose only one is in MIG mode = %v", err)
	}

	// Named devices: a MIG slice, by UUID; with --gpu the kind must match.
	if got, err := pick(nil, gpuRequest{GPU: core.GPU{Kind: "A100"}, Devices: []string{"MIG-a100-1"}}); err != nil || !slices.Equal(got, []string{"MIG-a100-1"}) {
		t.Errorf("gpu_devices MIG-a100-1 = %q, %v", got, err)
	}
	if got, err := pick(nil, gpuRequest{Devices: []string{"1", "3"}}); err != nil || !slices.Equal(got, []string{"GPU-h100-b", "GPU-l40s-a"}) {
		t.Errorf("gpu_devices by index = %q, %v", got, err)
	}
	for _, tc := range []struct {
		holders []holder
		r       gpuRequest
		want    string
	}{
		{nil, gpuRequest{Devices: []string{"GPU-nope"}}, `no GPU "GPU-nope"`},
		{nil, gpuRequest{Devices: []string{"GPU-a100-m"}}, "is in MIG mode"},
		{nil, gpuRequest{GPU: core.GPU{Kind: "H100"}, Devices: []string{"GPU-l40s-a"}}, "not a H100"},
		{nil, gpuRequest{GPU: core.GPU{Kind: "H100", Count: 2}, Devices: []string{"0"}}, "the count must be the number of devices"},
		{nil, gpuRequest{Devices: []string{"0", "GPU-h100-a"}}, "named twice"},
		// A slice is busy when it, or its GPU, is held.
		{[]holder{{Session: "bob", UUIDs: []string{"MIG-a100-0"}}}, gpuRequest{Devices: []string{"MIG-a100-0"}}, "MIG-a100-0 (MIG-a100-0) by session bob"},
		{held, gpuRequest{Devices: []string{"0"}}, "0 (GPU-h100-a) by session alice"},
	} {
		if _, err := pick(tc.holders, tc.r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("pick(%+v, %+v) = %v, want %q", tc.holders, tc.r, err, tc.want)
		}
	}
	// One slice held leaves the other free.
	if got, err := pick([]holder{{Session: "bob", UUIDs: []string{"MIG-a100-0"}}}, gpuRequest{Devices: []string{"MIG-a100-1"}}); err != nil || len(got) != 1 {
		t.Errorf("the free sibling slice = %q, %v", got, err)
	}
}

func TestConflictingHolder(t *testing.T) {
	hs := []holder{
		{Session: "early", ID: "b", Created: 10, UUIDs: []string{"GPU-1"}},
		{Session: "me", ID: "c", Created: 11, UUIDs: []string{"GPU-1", "GPU-2"}},
		{Session: "tie", ID: "a", Created: 11, UUIDs: []string{"GPU-2"}},
		{Session: "late", ID: "d", Created: 12, UUIDs: []string{"GPU-2"}},
	}
	if h := conflictingHolder(hs, "c", []string{"GPU-1", "GPU-2"}); h == nil || h.Session != "early" {
		t.Errorf("conflict for c = %+v, want early", h)
	}
	if h := conflictingHolder(hs, "c", []string{"GPU-2"}); h == nil || h.Session != "tie" {
		t.Errorf("conflict for c on GPU-2 = %+v, want tie (same second, smaller id)", h)
	}
	if h := conflictingHolder(hs, "b", []string{"GPU-1"}); h != nil {
		t.Errorf("the earliest holder gives way to %+v", h)
	}
}

// fakeGPUs stands in for the engine's GPU support: it lists a fixed set of
// devices and records the device requests Create asks for, as the engine
// would receive them. The engine here has no GPU, so the request is not
// sent: NVIDIA_VISIBLE_DEVICES, which the NVIDIA hook would read, is set.
type fakeGPUs struct {
	list  []gpuDevice
	mu    sync.Mutex
	asked [][]container.DeviceRequest
}

func (f *fakeGPUs) devices(context.Context, string) ([]gpuDevice, error) { return f.list, nil }

func (f *fakeGPUs) attach(_ *container.Config, _ *container.HostConfig, uuids []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, deviceRequests(uuids))
}

// TestGPUAllocation runs real sandboxes on a host of three H100s and an
// A100 (a fake device list, unique to this test, so others' sandboxes never
// hold them): concurrent Creates take disjoint GPUs under the lock, the one
// too many fails naming who holds them, a named device that is held is
// refused, the mixed host gives the A100 by kind, and Destroy frees GPUs.
func TestGPUAllocation(t *testing.T) {
	requireDocker(t)
	img := testImage(t)
	id := randHex(t)
	fake := &fakeGPUs{list: []gpuDevice{
		{Index: "0", UUID: "GPU-" + id + "-0", Name: "NVIDIA H100 80GB HBM3"},
		{Index: "1", UUID: "GPU-" + id + "-1", Name: "NVIDIA A100-SXM4-80GB"},
		{Index: "2", UUID: "GPU-" + id + "-2", Name: "NVIDIA H100 80GB HBM3"},
		{Index: "3", UUID: "GPU-" + id + "-3", Name: "NVIDIA H100 80GB HBM3"},
	}}
	newP := func() *Provider {
		p := newProvider(t)
		p.gpus = fake
		return p
	}

	// Four sessions at once, each from its own provider (its own sena), ask
	// for one H100 each: three get one, all different; one fails.
	type result struct {
		req  *core.CreateRequest
		resp *core.CreateResponse
		err  error
	}
	results := make([]result, 4)
	var wg sync.WaitGroup
	for i := range results {
		p := newP()
		req := request(t, img)
		req.Spec.GPU = core.GPU{Kind: "H100", Count: 1}
		destroyOnCleanup(t, p, req.SessionID)
		results[i].req = req
		wg.Go(func() { results[i].resp, results[i].err = p.Create(t.Context(), req) })
	}
	wg.Wait()
	p := newP()
	held := map[string]string{} // uuid -> session
	var failed []error
	for _, r := range results {
		if r.err != nil {
			failed = append(failed, r.err)
			continue
		}
		ins, err := p.Inspect(t.Context(), &core.InspectRequest{Handle: r.resp.Handle})
		if err != nil || len(ins.GPUs) != 1 {
			t.Fatalf("Inspect %s = %+v, %v; want one GPU", r.req.SessionID, ins, err)
		}
		if other, dup := held[ins.GPUs[0]]; dup {
			t.Errorf("sessions %s and %s both hold %s", other, r.req.SessionID, ins.GPUs[0])
		}
		held[ins.GPUs[0]] = r.req.SessionID
		// The container sees exactly its GPU.
		if got := kernelOut(t, r.resp.Endpoint.URL, r.req.JupyterToken, "import os; print(os.environ['NVIDIA_VISIBLE_DEVICES'])"); got != ins.GPUs[0] {
			t.Errorf("session %s sees NVIDIA_VISIBLE_DEVICES=%q, holds %s", r.req.SessionID, got, ins.GPUs[0])
		}
	}
	if len(held) != 3 || len(failed) != 1 {
		t.Fatalf("4 sessions on 3 H100s: %d got one (%v), %d failed (%v); want 3 and 1", len(held), held, len(failed), failed)
	}
	if _, ok := held["GPU-"+id+"-1"]; ok {
		t.Errorf("an H100 session got the A100")
	}
	t.Logf("the fourth session sees: %v", failed[0])
	if !errors.Is(failed[0], core.ErrUnavailable) || !strings.Contains(failed[0].Error(), "0 of this host's 3 H100 GPUs are free") {
		t.Errorf("the fourth session's error = %v, want none free", failed[0])
	}
	for uuid, session := range held {
		if !strings.Contains(failed[0].Error(), uuid+") by session "+session) {
			t.Errorf("the error does not name %s held by %s: %v", uuid, session, failed[0])
		}
	}
	// The engine was asked for each GPU by UUID, never by count.
	fake.mu.Lock()
	for _, reqs := range fake.asked {
		if len(reqs) != 1 || reqs[0].Count != 0 || len(reqs[0].DeviceIDs) != 1 || held[reqs[0].DeviceIDs[0]] == "" {
			t.Errorf("device request %+v: want one held UUID and no count", reqs)
		}
	}
	fake.mu.Unlock()

	// A named device that is held is refused, naming its holder.
	var heldUUID, heldBy string
	for u, s := range held {
		heldUUID, heldBy = u, s
	}
	named := request(t, img)
	named.Spec.Options = []byte(`{"gpu_devices":["` + heldUUID + `"]}`)
	destroyOnCleanup(t, p, named.SessionID)
	if _, err := p.Create(t.Context(), named); !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "by session "+heldBy) {
		t.Errorf("Create with a held gpu_devices = %v, want it refused naming %s", err, heldBy)
	}
	// The mixed host: the A100 is there for an A100 session.
	a100 := request(t, img)
	a100.Spec.GPU = core.GPU{Kind: "A100"}
	destroyOnCleanup(t, p, a100.SessionID)
	resp, err := p.Create(t.Context(), a100)
	if err != nil {
		t.Fatalf("A100 on the mixed host: %v", err)
	}
	list, err := p.List(t.Context(), &core.ListRequest{Labels: map[string]string{core.LabelSession: a100.SessionID}})
	if err != nil || len(list.Sandboxes) != 1 || !slices.Equal(list.Sandboxes[0].GPUs, []string{"GPU-" + id + "-1"}) {
		t.Errorf("List of the A100 session = %+v, %v", list, err)
	}
	if err := p.Destroy(t.Context(), &core.DestroyRequest{Handle: resp.Handle}); err != nil {
		t.Fatal(err)
	}

	// Destroying a holder frees its GPU for the next session.
	for _, r := range results {
		if r.resp != nil && r.req.SessionID == heldBy {
			if err := p.Destroy(t.Context(), &core.DestroyRequest{Handle: r.resp.Handle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if resp, err := p.Create(t.Context(), named); err != nil {
		t.Errorf("Create with gpu_devices after its holder is down: %v", err)
	} else if ins, _ := p.Inspect(t.Context(), &core.InspectRequest{Handle: resp.Handle}); ins == nil || !slices.Equal(ins.GPUs, []string{heldUUID}) {
		t.Errorf("the named session holds %+v, want %s", ins, heldUUID)
	}
}
