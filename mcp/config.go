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
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Provider, in.Provider)
	set(&cfg.GPU, in.GPU)
	set(&cfg.Python, in.Python)
	set(&cfg.Image, in.Image)
	set(&cfg.Workspace.InitCode, in.InitCode)
	if in.Mode != "" {
		cfg.Mode = core.Mode(in.Mode)
	}
	if cfg.Provider == "" {
		cfg.Provider = opts.Provider
	}
	if cfg.Python == "" && cfg.Provider == "local" {
		cfg.Python = opts.Python
	}
	for _, d := range []struct {
		v   string
		dst *core.Duration
	}{{in.Timeout, &cfg.Timeout}, {in.IdleTimeout, &cfg.IdleTimeout}} {
		if d.v != "" {
			v, err := core.ParseDuration(d.v)
			if err != nil {
				return nil, err
			}
			*d.dst = core.Duration(v)
		}
	}
	if in.CPUs != 0 {
		cfg.CPUs = in.CPUs
	}
	if in.MemoryMiB != 0 {
		cfg.MemoryMiB = in.MemoryMiB
	}
	for _, s := range in.Models {
		m, err := core.ParseModel(s)
		if err != nil {
			return nil, err
		}
		cfg.Models = append(cfg.Models, m)
	}
	cfg.PythonPackages = append(cfg.PythonPackages, in.PythonPackages...)
	cfg.SystemPackages = append(cfg.SystemPackages, in.SystemPackages...)
	for _, l := range in.Libraries {
		cfg.Workspace.Libraries = append(cfg.Workspace.Libraries, core.Library(l))
	}
	cfg.Workspace.Skills = append(cfg.Workspace.Skills, in.Skills...)
	cfg.Secrets = append(cfg.Secrets, in.Secrets...)
	for k, v := range in.Env {
		if cfg.Env == nil {
			cfg.Env = map[string]string{}
		}
		cfg.Env[k] = v
	}
	return cfg, nil
}
