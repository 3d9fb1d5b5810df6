package mcp

import (
	"github.com/sena-labs/sena/core"
)

// StartSessionInput is start_session's arguments: the same settings as
// `sena up` (flags and sena.yaml).
type StartSessionInput struct {
	ConfigFile     string            `json:"config_file,omitempty" jsonschema:"path of a sena.yaml on the machine running this server; the arguments below add to it (lists) or override it"`
	Provider       string            `json:"provider,omitempty" jsonschema:"provider that runs the sandbox: local (processes on this machine, no isolation), docker, modal, or a plugin name; default: the server's --provider"`
	Mode           string            `json:"mode,omitempty" jsonschema:"notebook (default): execute_code runs Python; cli: execute_code runs shell commands"`
	GPU            string            `json:"gpu,omitempty" jsonschema:"GPU kind and count, such as T4, A100, H100 or H100:4; empty for CPU only"`
	Models         []string          `json:"models,omitempty" jsonschema:"Hugging Face models as ORG/NAME or ORG/NAME@REVISION, downloaded once and cached; each one's path is in the env var MODEL_<NAME>_PATH"`
	Preload        bool              `json:"preload,omitempty" jsonschema:"load each model and its tokenizer into the kernel before returning, as model and tokenizer (then model_2, tokenizer_2, ...)"`
	Dtype          string            `json:"dtype,omitempty" jsonschema:"with preload: torch dtype such as bfloat16, float16, float32 or auto"`
	DeviceMap      string            `json:"device_map,omitempty" jsonschema:"with preload: device_map for from_pretrained, such as auto, cuda or cpu"`
	PythonPackages []string          `json:"python_packages,omitempty" jsonschema:"pip requirements to install, such as transformers==4.46.0"`
	SystemPackages []string          `json:"system_packages,omitempty" jsonschema:"Debian packages to install (container providers)"`
	Libraries      []LibraryInput    `json:"libraries,omitempty" jsonschema:"Python modules made importable in the kernel"`
	Skills         []string          `json:"skills,omitempty" jsonschema:"skills to mount: names of skills shipped with Sena (such as steering) or directories with a SKILL.md"`
	Secrets        []string          `json:"secrets,omitempty" jsonschema:"names of environment variables (such as HF_TOKEN) whose values this server passes to the sandbox; values never appear in results or notebooks"`
	Env            map[string]string `json:"env,omitempty" jsonschema:"environment variables set in the sandbox as given (not for secrets)"`
	InitCode       string            `json:"init_code,omitempty" jsonschema:"Python run once in the kernel at start, recorded as the notebook's first cell"`
	Python         string            `json:"python,omitempty" jsonschema:"local provider: the Python interpreter to run (it needs jupyter_server and ipykernel); default: the server's SENA_PYTHON"`
	Image          string            `json:"image,omitempty" jsonschema:"container providers: the image to run"`
	Timeout        string            `json:"timeout,omitempty" jsonschema:"stop the sandbox after this long, such as 90m or 2h (default: the provider's)"`
	IdleTimeout    string            `json:"idle_timeout,omitempty" jsonschema:"stop the sandbox after this long without kernel activity, such as 30m"`
	CPUs           float64           `json:"cpus,omitempty" jsonschema:"CPU limit (container providers)"`
	MemoryMiB      int64             `json:"memory_mib,omitempty" jsonschema:"memory limit in MiB (container providers)"`
}

// LibraryInput is a library: a path on this server's machine, or inline code.
type LibraryInput struct {
	Path string `json:"path,omitempty" jsonschema:"a .py file or a package directory on the machine running this server"`
	Name string `json:"name,omitempty" jsonschema:"module file name for inline code, such as helpers.py"`
	Code string `json:"code,omitempty" jsonschema:"inline Python source of the module"`
}

// sandboxConfig builds the config `sena up` would: the file, then the
// arguments on top (lists append, values override).
func (in *StartSessionInput) sandboxConfig(opts *Options) (*core.SandboxConfig, error) {
	cfg := &core.SandboxConfig{}
	if in.ConfigFile != "" {
		var err error
		if cfg, err = core.LoadConfig(in.ConfigFile); err != nil {
			return nil, err
		}
	}
	o := &core.SandboxConfig{
		Provider: in.Provider, GPU: in.GPU, Python: in.Python, Image: in.Image, Mode: core.Mode(in.Mode),
		CPUs: in.CPUs, MemoryMiB: in.MemoryMiB, Env: in.Env, Secrets: in.Secrets,
		PythonPackages: in.PythonPackages, SystemPackages: in.SystemPackages,
		Workspace: core.Workspace{InitCode: in.InitCode, Skills: in.Skills},
	}
	for _, d := range []struct {
		v   string
		dst *core.Duration
	}{{in.Timeout, &o.Timeout}, {in.IdleTimeout, &o.IdleTimeout}} {
		v, err := core.ParseDuration(d.v)
		if err != nil {
			return nil, err
		}
		*d.dst = core.Duration(v)
	}
	var err error
	o.Models, err = core.ParseModels(in.Models, core.ModelOptions{Preload: in.Preload, Dtype: in.Dtype, DeviceMap: in.DeviceMap})
	if err != nil {
		return nil, err
	}
	for _, l := range in.Libraries {
		o.Workspace.Libraries = append(o.Workspace.Libraries, core.Library(l))
	}
	cfg.Overlay(o)
	if cfg.Provider == "" {
		cfg.Provider = opts.Provider
	}
	if cfg.Python == "" && cfg.Provider == "local" {
		cfg.Python = opts.Python
	}
	return cfg, nil
}
