package core

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Mode is how a session is used.
type Mode string

// Execution modes.
const (
	// ModeNotebook: code runs in a Jupyter kernel and every cell lands in a notebook.
	ModeNotebook Mode = "notebook"
	// ModeCLI: `sena exec` runs shell commands in the sandbox.
	ModeCLI Mode = "cli"
)

// SandboxConfig is everything needed to bring a sandbox up. It is what
// `sena up -f sena.yaml` reads (YAML, keys as in the tags below) and what the
// flags of `sena up` fill in.
type SandboxConfig struct {
	// Provider runs the sandbox ("local", "docker", "modal" or a plugin name).
	Provider string `yaml:"provider,omitempty" json:"provider,omitempty"`
	// Mode is notebook (default) or cli.
	Mode Mode `yaml:"mode,omitempty" json:"mode,omitempty"`
	// GPU is "", "T4", "A100", "H100:4", ...
	GPU string `yaml:"gpu,omitempty" json:"gpu,omitempty"`
	// Models are downloaded once, cached, and exposed as MODEL_<NAME>_PATH.
	Models []ModelConfig `yaml:"models,omitempty" json:"models,omitempty"`
	// PythonPackages are pip requirement strings.
	PythonPackages []string `yaml:"python_packages,omitempty" json:"python_packages,omitempty"`
	// SystemPackages are Debian packages (container providers).
	SystemPackages []string `yaml:"system_packages,omitempty" json:"system_packages,omitempty"`
	// Secrets are names of environment variables whose values are taken from
	// the host environment (or a .env file) and set in the sandbox only.
	Secrets []string `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	// Env is set in the sandbox as given.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Timeout is the sandbox's whole lifetime (0: provider default).
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// IdleTimeout stops the sandbox after this long without kernel activity.
	IdleTimeout Duration `yaml:"idle_timeout,omitempty" json:"idle_timeout,omitempty"`
	// Python is the interpreter the local provider runs (must have jupyter_server and ipykernel).
	Python string `yaml:"python,omitempty" json:"python,omitempty"`
	// Image is the container image for container providers.
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	// CPUs and MemoryMiB limit the sandbox where the provider supports it.
	CPUs      float64 `yaml:"cpus,omitempty" json:"cpus,omitempty"`
	MemoryMiB int64   `yaml:"memory_mib,omitempty" json:"memory_mib,omitempty"`
	// Workspace is what is copied into the sandbox and run at start.
	Workspace Workspace `yaml:"workspace,omitempty" json:"workspace,omitempty"`
}

// ModelConfig names a Hugging Face model.
type ModelConfig struct {
	// Name is the repo id, as in google/gemma-2-9b-it.
	Name string `yaml:"name" json:"name"`
	// Revision is a branch, tag or commit (default "main").
	Revision string `yaml:"revision,omitempty" json:"revision,omitempty"`
	// Preload loads the model (and its tokenizer) into the kernel before
	// the session is handed over, so they are ready in the first cell.
	Preload *Preload `yaml:"preload,omitempty" json:"preload,omitempty"`
	// Hidden keeps the model's identity out of the notebook: it is preloaded
	// silently and its MODEL_<NAME>_PATH is not shown to agents.
	Hidden bool `yaml:"hidden,omitempty" json:"hidden,omitempty"`
}

// Preload says how a model is loaded into the kernel.
type Preload struct {
	// Var and TokenizerVar name the kernel variables (default model, tokenizer).
	Var          string `yaml:"var,omitempty" json:"var,omitempty"`
	TokenizerVar string `yaml:"tokenizer_var,omitempty" json:"tokenizer_var,omitempty"`
	// Dtype is a torch dtype name: bfloat16, float16, float32, or auto (default).
	Dtype string `yaml:"dtype,omitempty" json:"dtype,omitempty"`
	// DeviceMap is passed to from_pretrained: auto (default with a GPU), cuda, cpu...
	DeviceMap string `yaml:"device_map,omitempty" json:"device_map,omitempty"`
}

// Workspace is what the researcher brings into the sandbox.
type Workspace struct {
	// Libraries are made importable in the kernel.
	Libraries []Library `yaml:"libraries,omitempty" json:"libraries,omitempty"`
	// Skills are directories with a SKILL.md (or names of skills shipped
	// with Sena), copied in and listed to agents.
	Skills []string `yaml:"skills,omitempty" json:"skills,omitempty"`
	// InitCode runs once in the kernel when the session starts.
	InitCode string `yaml:"init_code,omitempty" json:"init_code,omitempty"`
}

// Library is a .py file, a package directory, or inline code. In YAML a
// plain string is a path; inline code is written as {name: helpers.py, code: "..."}.
type Library struct {
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	Name string `yaml:"name,omitempty" json:"name,omitempty"` // module file name for inline code
	Code string `yaml:"code,omitempty" json:"code,omitempty"`
}

// UnmarshalYAML accepts a plain path or the mapping form.
func (l *Library) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		l.Path = n.Value
		return nil
	}
	type plain Library
	return n.Decode((*plain)(l))
}

// Duration is a time.Duration written as "90s", "2h" in config files.
type Duration time.Duration

// UnmarshalYAML reads "90s", "1h30m" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as Go formats it.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ParseDuration reads "90s", "1h30m", or a plain number of seconds.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), nil
	}
	return 0, Errorf(ErrInvalidConfig, "duration %q: write it as 90s, 30m or 2h", s)
}

// LoadConfig reads a YAML config file. Unknown keys are errors, so a typo
// does not silently drop a setting.
func LoadConfig(path string) (*SandboxConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errorf(ErrInvalidConfig, "read config: %v", err)
	}
	var cfg SandboxConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, Errorf(ErrInvalidConfig, "config %s: %v (see docs/configuration.md for the keys)", path, err)
	}
	return &cfg, nil
}

var (
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	pyIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks the config without touching any backend.
func (c *SandboxConfig) Validate() error {
	switch c.Mode {
	case "", ModeNotebook, ModeCLI:
	default:
		return Errorf(ErrInvalidConfig, "mode %q: use notebook or cli", c.Mode)
	}
	if _, err := ParseGPU(c.GPU); err != nil {
		return err
	}
	for _, m := range c.Models {
		if _, err := ParseModel(m.Name); err != nil {
			return err
		}
		if p := m.Preload; p != nil {
			for _, v := range []string{p.Var, p.TokenizerVar} {
				if v != "" && !pyIdent.MatchString(v) {
					return Errorf(ErrInvalidConfig, "model %s: preload variable %q is not a Python identifier", m.Name, v)
				}
			}
			if p.Dtype != "" && !pyIdent.MatchString(p.Dtype) {
				return Errorf(ErrInvalidConfig, "model %s: dtype %q: use bfloat16, float16, float32 or auto", m.Name, p.Dtype)
			}
		}
	}
	for _, s := range c.Secrets {
		if !envName.MatchString(s) {
			return Errorf(ErrInvalidConfig, "secret %q: a secret is named by an environment variable name such as HF_TOKEN", s)
		}
	}
	for k := range c.Env {
		if !envName.MatchString(k) {
			return Errorf(ErrInvalidConfig, "env %q: not a valid environment variable name", k)
		}
	}
	if c.Timeout < 0 || c.IdleTimeout < 0 || c.CPUs < 0 || c.MemoryMiB < 0 {
		return Errorf(ErrInvalidConfig, "timeouts, cpus and memory must not be negative")
	}
	return nil
}

// ParseModel reads "org/name" or "org/name@revision".
func ParseModel(s string) (ModelConfig, error) {
	name, rev, _ := strings.Cut(strings.TrimSpace(s), "@")
	org, repo, ok := strings.Cut(name, "/")
	if !ok || org == "" || repo == "" || strings.Contains(repo, "/") || strings.ContainsAny(name, " \\") {
		return ModelConfig{}, Errorf(ErrInvalidConfig, "model %q: write it as ORG/NAME or ORG/NAME@REVISION, as in google/gemma-2-9b-it", s)
	}
	return ModelConfig{Name: name, Revision: rev}, nil
}

// ModelEnvVar is the variable that holds a model's path in the sandbox:
// google/gemma-2-9b-it -> MODEL_GOOGLE_GEMMA_2_9B_IT_PATH.
func ModelEnvVar(name string) string {
	var b strings.Builder
	b.WriteString("MODEL_")
	for _, r := range strings.ToUpper(name) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteString("_PATH")
	return b.String()
}

// Overlay applies o on top of c, as flags apply on top of a config file:
// non-zero scalars override, lists append, env entries are added.
func (c *SandboxConfig) Overlay(o *SandboxConfig) {
	str := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	str(&c.Provider, o.Provider)
	str(&c.GPU, o.GPU)
	str(&c.Python, o.Python)
	str(&c.Image, o.Image)
	str(&c.Workspace.InitCode, o.Workspace.InitCode)
	if o.Mode != "" {
		c.Mode = o.Mode
	}
	if o.Timeout != 0 {
		c.Timeout = o.Timeout
	}
	if o.IdleTimeout != 0 {
		c.IdleTimeout = o.IdleTimeout
	}
	if o.CPUs != 0 {
		c.CPUs = o.CPUs
	}
	if o.MemoryMiB != 0 {
		c.MemoryMiB = o.MemoryMiB
	}
	c.Models = append(c.Models, o.Models...)
	c.PythonPackages = append(c.PythonPackages, o.PythonPackages...)
	c.SystemPackages = append(c.SystemPackages, o.SystemPackages...)
	c.Secrets = append(c.Secrets, o.Secrets...)
	c.Workspace.Libraries = append(c.Workspace.Libraries, o.Workspace.Libraries...)
	c.Workspace.Skills = append(c.Workspace.Skills, o.Workspace.Skills...)
	for k, v := range o.Env {
		if c.Env == nil {
			c.Env = map[string]string{}
		}
		c.Env[k] = v
	}
}

// ModelOptions say how the models named on a command line are loaded.
type ModelOptions struct {
	Preload   bool   // load each into the kernel (model, tokenizer; model_2, ...)
	Hidden    bool   // keep their names out of the notebook (implies Preload)
	Dtype     string // torch dtype for preloading
	DeviceMap string // device_map for preloading
}

// ParseModels reads ORG/NAME[@REVISION] names with the given options.
func ParseModels(names []string, o ModelOptions) ([]ModelConfig, error) {
	if (o.Dtype != "" || o.DeviceMap != "") && !o.Preload && !o.Hidden {
		return nil, Errorf(ErrInvalidConfig, "dtype and device map only apply to preloaded models: add preload")
	}
	var out []ModelConfig
	for _, n := range names {
		m, err := ParseModel(n)
		if err != nil {
			return nil, err
		}
		m.Hidden = o.Hidden
		if o.Preload || o.Hidden {
			m.Preload = &Preload{Dtype: o.Dtype, DeviceMap: o.DeviceMap}
		}
		out = append(out, m)
	}
	return out, nil
}

// ParseEnv reads KEY=VALUE assignments.
func ParseEnv(kvs []string) (map[string]string, error) {
	var env map[string]string
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, Errorf(ErrInvalidConfig, "env %q: write KEY=VALUE", kv)
		}
		if env == nil {
			env = map[string]string{}
		}
		env[k] = v
	}
	return env, nil
}
