package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
)

// nvidia-smi --query-gpu=index,name --format=csv,noheader as real machines
// print it. The H100 line was captured on an H100 SXM host; the others are
// the names those products report.
const (
	smiH100x1 = "0, NVIDIA H100 80GB HBM3\n"
	smiH100x4 = "0, NVIDIA H100 80GB HBM3\n1, NVIDIA H100 80GB HBM3\n2, NVIDIA H100 80GB HBM3\n3, NVIDIA H100 80GB HBM3\n"
	smiA100   = "0, NVIDIA A100-SXM4-80GB\n1, NVIDIA A100-SXM4-80GB\n"
	smiA100_4 = "0, NVIDIA A100-PCIE-40GB\n"
	smiA100PC = "0, NVIDIA A100 80GB PCIe\n"
	smiMixed  = "0, Tesla T4\n1, NVIDIA L40S\n2, NVIDIA L4\n3, NVIDIA A10G\n"
)

func TestGPUMatching(t *testing.T) {
	cases := []struct {
		smi  string
		want core.GPU
		cuda string // "" means refused
	}{
		{smiH100x1, core.GPU{Kind: "H100", Count: 1}, "0"},
		{smiH100x4, core.GPU{Kind: "H100", Count: 4}, "0,1,2,3"},
		{smiH100x4, core.GPU{Kind: "H100", Count: 2}, "0,1"},
		{smiH100x1, core.GPU{Kind: "H100", Count: 2}, ""},
		{smiH100x1, core.GPU{Kind: "H200", Count: 1}, ""},
		{smiH100x1, core.GPU{Kind: "A100", Count: 1}, ""},
		{smiA100, core.GPU{Kind: "A100", Count: 2}, "0,1"},
		{smiA100, core.GPU{Kind: "A100-80GB", Count: 1}, "0"},
		{smiA100, core.GPU{Kind: "A100-40GB", Count: 1}, ""},
		{smiA100_4, core.GPU{Kind: "A100-40GB", Count: 1}, "0"},
		{smiA100_4, core.GPU{Kind: "A100-80GB", Count: 1}, ""},
		{smiA100PC, core.GPU{Kind: "A100-80GB", Count: 1}, "0"},
		{smiA100PC, core.GPU{Kind: "H100", Count: 1}, ""},
		{smiMixed, core.GPU{Kind: "T4", Count: 1}, "0"},
		{smiMixed, core.GPU{Kind: "L4", Count: 1}, "2"}, // not the L40S
		{smiMixed, core.GPU{Kind: "L40S", Count: 1}, "1"},
		{smiMixed, core.GPU{Kind: "A10G", Count: 1}, "3"},
		{"", core.GPU{Kind: "T4", Count: 1}, ""},
	}
	for _, c := range cases {
		gpus, err := parseGPUs(c.smi)
		if err != nil {
			t.Fatal(err)
		}
		cuda, err := pickGPUs(gpus, c.want)
		if cuda != c.cuda {
			t.Errorf("%s on %q: CUDA_VISIBLE_DEVICES=%q (err %v), want %q", c.want, c.smi, cuda, err, c.cuda)
		}
		if c.cuda == "" && !errors.Is(err, core.ErrUnsupported) {
			t.Errorf("%s on %q: error %v, want ErrUnsupported", c.want, c.smi, err)
		}
	}

	// The refusal says what the host has.
	gpus, _ := parseGPUs(smiA100)
	_, err := pickGPUs(gpus, core.GPU{Kind: "H100", Count: 1})
	if want := "host has no H100 GPU; nvidia-smi reports: 0: NVIDIA A100-SXM4-80GB; 1: NVIDIA A100-SXM4-80GB"; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestHostKinds(t *testing.T) {
	for smi, want := range map[string]string{
		smiH100x4: "H100",
		smiA100:   "A100 A100-80GB",
		smiA100_4: "A100 A100-40GB",
		smiMixed:  "T4 L4 A10G L40S",
		"":        "",
	} {
		gpus, _ := parseGPUs(smi)
		if got := strings.Join(hostKinds(gpus), " "); got != want {
			t.Errorf("kinds of %q = %q, want %q", smi, got, want)
		}
	}
	if _, err := parseGPUs("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"); err == nil {
		t.Error("driver failure text parsed as GPUs")
	}
}

// fakeSMI points SENA_NVIDIA_SMI at a script printing out.
func fakeSMI(t *testing.T, out string) {
	t.Helper()
	script := filepath.Join(t.TempDir(), "nvidia-smi")
	body := "#!/bin/sh\n[ \"$1 $2\" = '--query-gpu=index,name --format=csv,noheader' ] || { echo bad args: \"$@\" >&2; exit 2; }\nprintf '%s' '" + out + "'\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SENA_NVIDIA_SMI", script)
}

func TestInfoReportsHostGPUs(t *testing.T) {
	fakeSMI(t, smiH100x4)
	info := mustInfo(t)
	if got := strings.Join(info.Capabilities.GPUKinds, ","); got != "H100" || info.Capabilities.MaxGPUs != 4 {
		t.Errorf("GPUKinds %q MaxGPUs %d, want H100 and 4", got, info.Capabilities.MaxGPUs)
	}
	if c := info.Capabilities; !c.Honours(core.FieldPythonPackages) || !c.Honours(core.FieldMounts) || !c.SharesHostFS || c.Honours(core.FieldImage) || c.Honours(core.FieldMemory) || info.Name != Name {
		t.Errorf("capabilities %+v", info)
	}

	// No nvidia-smi: a CPU host.
	t.Setenv("SENA_NVIDIA_SMI", "")
	t.Setenv("PATH", t.TempDir())
	if info := mustInfo(t); len(info.Capabilities.GPUKinds) != 0 || info.Capabilities.MaxGPUs != 0 {
		t.Errorf("without nvidia-smi: %+v", info.Capabilities)
	}
}

func mustInfo(t *testing.T) *core.ProviderInfo {
	t.Helper()
	p, _ := New(nil)
	info, err := p.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// A GPU the host lacks is refused before anything is written or started.
func TestCreateRefusesMissingGPU(t *testing.T) {
	fakeSMI(t, smiA100)
	p, _ := New(nil)
	work := filepath.Join(t.TempDir(), "work")
	req := &core.CreateRequest{SessionID: "gpu-test", JupyterToken: "x", WorkDir: work,
		Spec: core.SandboxSpec{GPU: core.GPU{Kind: "H100", Count: 1}, Options: pythonOption("/nonexistent/python")}}
	_, err := p.Create(context.Background(), req)
	if !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), "host has no H100 GPU; nvidia-smi reports: 0: NVIDIA A100-SXM4-80GB") {
		t.Fatalf("error %v, want ErrUnsupported naming the host's GPUs", err)
	}
	if _, err := os.Stat(work); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work dir created before the GPU check: %v", err)
	}

	t.Setenv("SENA_NVIDIA_SMI", "")
	t.Setenv("PATH", t.TempDir())
	_, err = p.Create(context.Background(), req)
	if !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), "gpu H100: no NVIDIA GPU found (nvidia-smi not on PATH)") {
		t.Fatalf("without nvidia-smi: %v", err)
	}
}
