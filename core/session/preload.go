package session

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
)

// preloadDefaults fills in variable names (model/tokenizer, then model_2,
// tokenizer_2, ...), the dtype and the device map, and refuses two models
// loading into one variable.
func preloadDefaults(models []core.ModelConfig, gpu bool) error {
	seen := map[string]bool{}
	n := 0
	for i := range models {
		p := models[i].Preload
		if p == nil {
			continue
		}
		n++
		suffix := ""
		if n > 1 {
			suffix = "_" + strconv.Itoa(n)
		}
		if p.Var == "" {
			p.Var = "model" + suffix
		}
		if p.TokenizerVar == "" {
			p.TokenizerVar = "tokenizer" + suffix
		}
		if p.Dtype == "" {
			p.Dtype = "auto"
		}
		if p.DeviceMap == "" && gpu {
			p.DeviceMap = "auto"
		}
		for _, v := range []string{p.Var, p.TokenizerVar} {
			if seen[v] {
				return core.Errorf(core.ErrInvalidConfig, "two preloaded models use the variable %q: give each its own var", v)
			}
			seen[v] = true
		}
	}
	return nil
}

// preloadCode loads one model and its tokenizer: from its MODEL_<NAME>_PATH,
// or for a hidden model from its path, renamed so the loaded objects do
// not carry the model's name.
func preloadCode(m core.ModelConfig, load modelLoad) string {
	p := m.Preload
	path := load.path
	dtype := strconv.Quote(p.Dtype)
	if p.Dtype != "auto" {
		dtype = "torch." + p.Dtype
	}
	if load.adapter != nil {
		return adapterPreloadCode(m, load, dtype)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "import os, torch, transformers\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n")
	fmt.Fprintf(&b, "_path = %s\n", preloadPath(m, path))
	fmt.Fprintf(&b, "if os.path.exists(os.path.join(_path, %q)):\n    raise RuntimeError(%q)\n", adapterConfigFile,
		"this model is a PEFT adapter, and Sena could not read its adapter_config.json before the sandbox started (the provider fetches models): give its base with base_model: ORG/NAME")
	fmt.Fprintf(&b, "%s = AutoTokenizer.from_pretrained(_path)\n", p.TokenizerVar)
	// transformers 4.56 renamed torch_dtype to dtype.
	fmt.Fprintf(&b, "_kw = {'dtype' if tuple(map(int, transformers.__version__.split('.')[:2])) >= (4, 56) else 'torch_dtype': %s}\n", dtype)
	if p.DeviceMap != "" {
		fmt.Fprintf(&b, "_kw['device_map'] = %q\n", p.DeviceMap)
	}
	fmt.Fprintf(&b, "%s = AutoModelForCausalLM.from_pretrained(_path, **_kw).eval()\n", p.Var)
	if m.Hidden {
		fmt.Fprintf(&b, "%s.config._name_or_path = %s.name_or_path = %s.name_or_path = 'hidden-model'\n", p.Var, p.Var, p.TokenizerVar)
	}
	fmt.Fprintf(&b, "del _path, _kw\n")
	return b.String()
}

// preloadPath is the Python expression for a model's path in the kernel:
// its MODEL_<NAME>_PATH, or for a hidden model the path itself, since it has
// no variable that would name it.
func preloadPath(m core.ModelConfig, path modelPath) string {
	if m.Hidden {
		return strconv.Quote(string(path))
	}
	return fmt.Sprintf("os.environ[%q]", m.EnvVar)
}

// modelCodeImport resolves (and so imports) the model class for a path.
const modelCodeImport = `import os
from transformers import AutoConfig
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING as _m
_m[type(AutoConfig.from_pretrained(%s))]
del _m`

func hasPreload(models []core.ModelConfig) bool {
	for _, m := range models {
		if m.Preload != nil {
			return true
		}
	}
	return false
}

// preloadImports imports torch and transformers in the kernel and starts
// CUDA, apart from the weights, so the phases tell library and driver
// start-up from putting the weights on the device.
func (m *Manager) preloadImports(ctx context.Context, s *Session, gpu bool) error {
	m.progress("importing torch and transformers")
	res, err := s.kernel().Execute(ctx, "import torch, transformers\nif torch.cuda.is_available(): torch.cuda.init(); torch.empty(1, device='cuda')", &kernel.ExecuteOptions{Silent: true})
	if err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	if res.Status != "ok" {
		return core.Errorf(core.ErrInvalidConfig, "preloading needs torch and transformers in the sandbox: %s: %s (add --package torch --package transformers)", res.EName, res.EValue)
	}
	return nil
}

// preloadWeights loads the preloaded models (after preloadImports):
// visibly, as notebook cells, or silently for hidden models so the
// notebook never names them, and for every model when silent (a warm
// pool's sandbox: its notebook starts clean for the session that takes it).
// loads are in the order of models.
func (m *Manager) preloadWeights(ctx context.Context, s *Session, models []core.ModelConfig, loads []modelLoad, mark func(string), silent bool) error {
	// transformers imports a model's code lazily on first load, which can
	// take longer than moving its weights; resolving the class first keeps
	// that out of the weights phase. Best effort: from_pretrained redoes it.
	for i, mc := range models {
		if mc.Preload != nil {
			p := preloadPath(mc, loads[i].path)
			if ad := loads[i].adapter; ad != nil {
				p = preloadPath(core.ModelConfig{Hidden: mc.Hidden, EnvVar: ad.baseEnvVar}, ad.basePath)
			}
			_, _ = s.kernel().Execute(ctx, fmt.Sprintf(modelCodeImport, p), &kernel.ExecuteOptions{Silent: true})
		}
	}
	mark("model_code_imported")
	for i, mc := range models {
		if mc.Preload == nil {
			continue
		}
		code := preloadCode(mc, loads[i])
		if mc.Hidden || silent {
			what := "a hidden model"
			if !mc.Hidden {
				what = mc.Name
			}
			m.progress("preloading %s", what)
			res, err := s.kernel().Execute(ctx, code, &kernel.ExecuteOptions{Silent: true})
			if err != nil {
				return fmt.Errorf("preload %s: %w", what, err)
			}
			if res.Status != "ok" {
				if mc.Hidden { // the error would name the model; say only what kind of failure it was
					return core.Errorf(core.ErrInvalidConfig, "preloading the hidden model failed with %s", res.EName)
				}
				return core.Errorf(core.ErrInvalidConfig, "preloading %s raised %s: %s", mc.Name, res.EName, res.EValue)
			}
			continue
		}
		m.progress("preloading %s into %s", mc.Name, mc.Preload.Var)
		ex, err := s.Execute(ctx, code, nil)
		if err != nil {
			return fmt.Errorf("preload %s: %w", mc.Name, err)
		}
		if ex.Result.Status != "ok" {
			return core.Errorf(core.ErrInvalidConfig, "preloading %s raised %s: %s", mc.Name, ex.Result.EName, ex.Result.EValue)
		}
	}
	mark("models_loaded")
	return nil
}
