package modal

import (
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/sena-labs/sena/core"
)

func TestInspectDestroyList(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	ctx := testContext(t)
	var handles []core.Handle
	for _, s := range []string{"sena-a", "sena-b", "sena-c"} {
		resp, err := p.Create(ctx, minimalRequest(s))
		if err != nil {
			t.Fatalf("Create %s: %v", s, err)
		}
		handles = append(handles, resp.Handle)
	}

	got, err := p.Inspect(ctx, &core.InspectRequest{Handle: handles[0]})
	if err != nil || got.Status != core.StatusRunning || got.Endpoint.URL != fake.TunnelURL(handles[0].ID, core.JupyterPort)+"/" {
		t.Fatalf("Inspect = %+v, %v; want running with the tunnel URL", got, err)
	}

	// Three sandboxes over pages of two: all are found by the managed label.
	all, err := p.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelManaged: "true"}})
	if err != nil || len(all.Sandboxes) != 3 {
		t.Fatalf("List managed = %+v, %v; want 3 sandboxes", all, err)
	}
	one, err := p.List(ctx, &core.ListRequest{Labels: labels("sena-b")})
	if err != nil || len(one.Sandboxes) != 1 || one.Sandboxes[0].Handle.ID != handles[1].ID || one.Sandboxes[0].Labels[core.LabelSession] != "sena-b" {
		t.Fatalf("List sena-b = %+v, %v; want %v with its labels", one, err, handles[1])
	}

	if err := p.Destroy(ctx, &core.DestroyRequest{Handle: handles[0]}); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if _, running, _ := fake.SandboxState(handles[0].ID); running {
		t.Error("Destroy did not terminate the sandbox")
	}
	if got, err := p.Inspect(ctx, &core.InspectRequest{Handle: handles[0]}); err != nil || got.Status != core.StatusStopped {
		t.Errorf("Inspect after Destroy = %+v, %v; want stopped", got, err)
	}
	if err := p.Destroy(ctx, &core.DestroyRequest{Handle: handles[0]}); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	all, _ = p.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelManaged: "true"}})
	var ids []string
	for _, s := range all.Sandboxes {
		ids = append(ids, s.Handle.ID)
	}
	if len(ids) != 2 || slices.Contains(ids, handles[0].ID) {
		t.Errorf("List after Destroy = %v, want the two others", ids)
	}
}

func TestListShowsOnlySenaSandboxes(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	ctx := testContext(t)
	fake.AddSandbox(map[string]string{"team": "someone-else"})
	fake.AddSandbox(map[string]string{core.LabelManaged: "false", core.LabelSession: "sena-x"})
	ours := fake.AddSandbox(map[string]string{core.LabelManaged: "true", core.LabelSession: "sena-x"})
	for _, want := range []map[string]string{nil, {core.LabelSession: "sena-x"}} {
		l, err := p.List(ctx, &core.ListRequest{Labels: want})
		if err != nil || len(l.Sandboxes) != 1 || l.Sandboxes[0].Handle.ID != ours {
			t.Errorf("List(%v) = %+v, %v; want only %s", want, l, err, ours)
		}
	}
}

func TestGoneSandboxes(t *testing.T) {
	p, _, _ := newTestProvider(t)
	ctx := testContext(t)
	gone := core.Handle{Provider: Name, ID: "sb-does-not-exist"}
	if err := p.Destroy(ctx, &core.DestroyRequest{Handle: gone}); err != nil {
		t.Errorf("Destroy of a sandbox Modal does not know = %v, want success", err)
	}
	if _, err := p.Inspect(ctx, &core.InspectRequest{Handle: gone}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Inspect of a sandbox Modal does not know = %v, want ErrNotFound", err)
	}
	if err := p.Destroy(ctx, &core.DestroyRequest{Handle: core.Handle{Provider: "docker", ID: "x"}}); !errors.Is(err, core.ErrInvalidConfig) {
		t.Errorf("Destroy of another provider's handle = %v, want ErrInvalidConfig", err)
	}
}

func TestNewAndInfoMakeNoCalls(t *testing.T) {
	_, fake, _ := newTestProvider(t)
	p, err := New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.Info(testContext(t))
	if err != nil || info.Name != Name || info.Capabilities.MaxGPUs != maxGPUs {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	for _, k := range []string{"T4", "L4", "A10G", "A100", "A100-40GB", "A100-80GB", "L40S", "H100", "H200"} {
		if err := info.Capabilities.CheckGPU(Name, core.GPU{Kind: k, Count: 1}); err != nil {
			t.Errorf("Info does not offer %s: %v", k, err)
		}
	}
	if m := fake.Methods(); len(m) > 0 {
		t.Errorf("New and Info called Modal: %v", m)
	}
}
