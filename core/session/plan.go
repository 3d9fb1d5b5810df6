package session

import (
	"encoding/json"
	"io/fs"
	"maps"
	"regexp"
	"strings"

	"github.com/sena-labs/sena/core"
)

// OptionPassEnv is the provider option every plugin takes: names of host
// environment variables the plugin process receives (plugins start without
// the host's environment). Core keeps it; the provider never sees it.
const OptionPassEnv = "pass_env"

// OptionAcknowledgeVisibleModels is the option by which a user accepts
// hidden models on a provider that shares the host's files (the local
// provider declares it), where the kernel could find their names.
const OptionAcknowledgeVisibleModels = "acknowledge_visible_models"

// Plan is what Up asks a provider for, checked against what the provider
// declares, before anything is fetched or created.
type Plan struct {
	// Spec is the sandbox to create; models add their mounts and variables
	// to it when they are fetched.
	Spec core.SandboxSpec
	// PassEnv are the host variables the provider's plugin receives.
	PassEnv []string
	// Skills are the workspace's skills as agents see them.
	Skills []Skill
	// InitCode runs once in the new kernel.
	InitCode string
}

// PlanSandbox turns a config into the request Up makes of a provider and
// refuses, with an error naming the setting and the fix, whatever the
// provider does not declare: a field it does not honour, an option its
// schema does not accept, models it can neither fetch nor mount. The
// conformance suite builds its requests with it too. cfg is normalised in
// place; builtinSkills resolves skills named without a path (may be nil).
func PlanSandbox(cfg *core.SandboxConfig, info *core.ProviderInfo, builtinSkills fs.FS) (*Plan, error) {
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	caps := info.Capabilities
	gpu, _ := core.ParseGPU(cfg.GPU) // validated already
	opts := maps.Clone(cfg.ProviderOptions)
	passEnv, err := passEnvOption(opts)
	if err != nil {
		return nil, err
	}
	options, err := caps.ValidateOptions(cfg.Provider, opts)
	if err != nil {
		return nil, err
	}
	if err := preloadDefaults(cfg.Models, gpu.Kind != ""); err != nil {
		return nil, err
	}
	ws, err := prepareWorkspace(&cfg.Workspace, builtinSkills)
	if err != nil {
		return nil, err
	}
	env := maps.Clone(cfg.Env)
	if env == nil {
		env = map[string]string{}
	}
	secrets, err := resolveSecrets(cfg.Secrets, caps.SecretStore)
	if err != nil {
		return nil, err
	}
	maps.Copy(env, secrets)
	spec := core.SandboxSpec{
		GPU: gpu, Image: cfg.Image,
		PythonPackages: cfg.PythonPackages, SystemPackages: cfg.SystemPackages,
		Env: env, SecretNames: cfg.Secrets,
		CPUs: cfg.CPUs, MemoryMiB: cfg.MemoryMiB,
		Timeout: cfg.Timeout.Std(), IdleTimeout: cfg.IdleTimeout.Std(),
		Files: ws.files, Options: options,
	}
	if err := planMounts(cfg, caps, &spec); err != nil {
		return nil, err
	}
	if len(spec.Files) == 0 {
		spec.Files = nil
	}
	var coerced map[string]any
	_ = json.Unmarshal(options, &coerced) // validated JSON, or empty
	if err := checkModelRoute(cfg, caps, coerced); err != nil {
		return nil, err
	}
	if caps.Honours(core.FieldModels) {
		spec.Models = cfg.Models
	}
	if err := caps.CheckSpec(cfg.Provider, &spec); err != nil {
		return nil, err
	}
	return &Plan{Spec: spec, PassEnv: passEnv, Skills: ws.skills, InitCode: ws.initCode}, nil
}

// checkModelRoute refuses models the provider can neither fetch on its side
// nor reach in the host's cache, and hidden models where their names would
// travel to the provider.
func checkModelRoute(cfg *core.SandboxConfig, caps core.Capabilities, opts map[string]any) error {
	if len(cfg.Models) == 0 {
		return nil
	}
	if caps.Honours(core.FieldModels) {
		for _, mc := range cfg.Models {
			if mc.Hidden {
				return core.Errorf(core.ErrUnsupported, "hidden models need a provider that uses the host's model cache (local or docker); %s fetches models on its side, where their names would show", cfg.Provider)
			}
		}
		return nil
	}
	if caps.SharesHostFS {
		for _, mc := range cfg.Models {
			if mc.Hidden && opts[OptionAcknowledgeVisibleModels] != true {
				return core.Errorf(core.ErrUnsupported, "provider %s runs on the host: the kernel can read the host's model cache and Sena's state, so it cannot hide a model's name; "+
					"use a provider that isolates (docker), or accept that with --provider-option %s=true", cfg.Provider, OptionAcknowledgeVisibleModels)
			}
		}
		return nil
	}
	if caps.Honours(core.FieldMounts) {
		return nil
	}
	return core.Errorf(core.ErrUnsupported, "provider %s can neither fetch models nor mount the host's model cache: drop --model, or use a provider that does (`sena providers`)", cfg.Provider)
}

// passEnvOption takes pass_env out of opts: a list of variable names.
func passEnvOption(opts map[string]any) ([]string, error) {
	v, ok := opts[OptionPassEnv]
	if !ok {
		return nil, nil
	}
	delete(opts, OptionPassEnv)
	var names []string
	switch v := v.(type) {
	case string: // --provider-option pass_env=A,B
		names = splitComma(v)
	case []any:
		for _, n := range v {
			s, ok := n.(string)
			if !ok {
				return nil, core.Errorf(core.ErrInvalidConfig, "provider option pass_env: list variable names, as [MY_TOKEN]")
			}
			names = append(names, s)
		}
	case []string:
		names = v
	default:
		return nil, core.Errorf(core.ErrInvalidConfig, "provider option pass_env: list variable names, as [MY_TOKEN]")
	}
	for _, n := range names {
		if !validEnvName(n) {
			return nil, core.Errorf(core.ErrInvalidConfig, "provider option pass_env: %q is not an environment variable name", n)
		}
	}
	return names, nil
}

// passEnvOf is the pass_env of a recorded config, for reopening its
// provider later (down); a malformed one was refused at up.
func passEnvOf(cfg *core.SandboxConfig) []string {
	names, _ := passEnvOption(maps.Clone(cfg.ProviderOptions))
	return names
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func validEnvName(s string) bool { return envName.MatchString(s) }

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
