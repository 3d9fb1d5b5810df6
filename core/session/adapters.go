package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sena-labs/sena/core"
)

// adapterLoad is what preloading needs for a PEFT adapter besides its own
// path: where its base model is.
type adapterLoad struct {
	basePath   modelPath // the base's snapshot in the sandbox ("" where the provider places it)
	baseEnvVar string    // MODEL_<BASE>_PATH; "" for a hidden adapter, whose base has none
	// config is a hidden adapter's adapter_config.json with the base's name
	// taken out: the file itself is not mounted, since it names the base.
	config json.RawMessage
}

// adapterConfigFile marks a PEFT adapter repo.
const adapterConfigFile = "adapter_config.json"

// readAdapterConfig reads a snapshot's adapter_config.json; nil when the
// repo is not a PEFT adapter.
func readAdapterConfig(snap string) (map[string]any, error) {
	if snap == "" {
		return nil, nil
	}
	data, err := os.ReadFile(filepath.Join(snap, adapterConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s is not JSON: %v", adapterConfigFile, err)
	}
	if _, ok := cfg["peft_type"].(string); !ok {
		return nil, fmt.Errorf("%s has no peft_type: not a PEFT adapter peft can load", adapterConfigFile)
	}
	return cfg, nil
}

// adapterBase is the base model an adapter applies to: base_model from the
// config, else base_model_name_or_path (and revision) of its
// adapter_config.json, which must name a Hub model.
func adapterBase(mc core.ModelConfig, ad map[string]any) (core.ModelConfig, error) {
	if mc.BaseModel != "" {
		return core.ParseModel(mc.BaseModel) // validated already
	}
	name, _ := ad["base_model_name_or_path"].(string)
	if name == "" {
		return core.ModelConfig{}, core.Errorf(core.ErrInvalidConfig, "model %s is a PEFT adapter whose %s names no base model: give it with base_model: ORG/NAME", shownName(mc), adapterConfigFile)
	}
	spec := name
	if rev, _ := ad["revision"].(string); rev != "" && !strings.Contains(name, "@") {
		spec += "@" + rev
	}
	base, err := core.ParseModel(spec)
	if err != nil {
		what := strconv.Quote(name)
		if mc.Hidden {
			what = "its base"
		}
		return core.ModelConfig{}, core.Errorf(core.ErrInvalidConfig, "model %s is a PEFT adapter whose base (%s in %s) is not a Hugging Face model id (a local path where it was trained?): give the base with base_model: ORG/NAME", shownName(mc), what, adapterConfigFile)
	}
	return base, nil
}

// baseEnvVar is the variable that holds an adapter's base's path: the
// env_var of a listed model that is that base, else MODEL_<BASE>_PATH.
func baseEnvVar(cfg *core.SandboxConfig, spec *core.SandboxSpec, base core.ModelConfig) string {
	for _, m := range cfg.Models {
		if m.Name == base.Name && m.Revision == base.Revision && m.BaseModel == "" {
			return m.EnvVar
		}
	}
	for _, m := range spec.Models {
		if m.Name == base.Name && m.Revision == base.Revision {
			return m.EnvVar
		}
	}
	env := core.ModelEnvVar(base.Name)
	if base.Revision != "" && slices.ContainsFunc(cfg.Models, func(m core.ModelConfig) bool { return m.EnvVar == env }) {
		env = core.ModelEnvVar(base.Name + "_" + base.Revision)
	}
	return env
}

// blindAdapterConfig is a hidden adapter's config without what names its
// base or where it was trained.
func blindAdapterConfig(ad map[string]any) json.RawMessage {
	c := map[string]any{}
	for k, v := range ad {
		c[k] = v
	}
	for _, k := range []string{"base_model_name_or_path", "revision", "auto_mapping"} {
		delete(c, k)
	}
	data, _ := json.Marshal(c) // decoded from JSON: cannot fail
	return data
}

// adapterPreloadCode loads a PEFT adapter: its base model, with the
// adapter applied by peft, as a PeftModel; the tokenizer from the adapter's
// repo when it ships one (an adapter trained with added tokens), else the
// base's.
func adapterPreloadCode(m core.ModelConfig, load modelLoad, dtype string) string {
	p := m.Preload
	ad := load.adapter
	var b strings.Builder
	fmt.Fprintf(&b, "import os, json, torch, transformers\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n")
	b.WriteString("try:\n    import peft\nexcept ImportError:\n    raise ImportError(\"preloading a PEFT adapter needs peft in the sandbox: add --package peft\") from None\n")
	fmt.Fprintf(&b, "_path = %s\n", preloadPath(m, load.path))
	if m.Hidden {
		fmt.Fprintf(&b, "_base = %s\n", strconv.Quote(string(ad.basePath)))
	} else {
		fmt.Fprintf(&b, "_base = os.environ.get(%q)\n", ad.baseEnvVar)
		fmt.Fprintf(&b, "if _base is None:\n    raise RuntimeError(%q)\n",
			"model "+m.Name+" is a PEFT adapter whose base model is unknown here: give base_model: ORG/NAME")
	}
	fmt.Fprintf(&b, "%s = AutoTokenizer.from_pretrained(_path if os.path.exists(os.path.join(_path, 'tokenizer_config.json')) else _base)\n", p.TokenizerVar)
	fmt.Fprintf(&b, "_kw = {'dtype' if tuple(map(int, transformers.__version__.split('.')[:2])) >= (4, 56) else 'torch_dtype': %s}\n", dtype)
	if p.DeviceMap != "" {
		fmt.Fprintf(&b, "_kw['device_map'] = %q\n", p.DeviceMap)
	}
	b.WriteString("_m = AutoModelForCausalLM.from_pretrained(_base, **_kw)\n")
	if m.Hidden {
		fmt.Fprintf(&b, "_m.config._name_or_path = _m.name_or_path = 'hidden-model'\n")
		fmt.Fprintf(&b, "_cfg = peft.PeftConfig.from_peft_type(**json.loads(%s))\n", strconv.Quote(string(ad.config)))
		fmt.Fprintf(&b, "_cfg.base_model_name_or_path = 'hidden-model'\n")
		fmt.Fprintf(&b, "%s = peft.PeftModel.from_pretrained(_m, _path, config=_cfg).eval()\n", p.Var)
		fmt.Fprintf(&b, "%s.name_or_path = 'hidden-model'\ndel _cfg\n", p.TokenizerVar)
	} else {
		fmt.Fprintf(&b, "%s = peft.PeftModel.from_pretrained(_m, _path).eval()\n", p.Var)
	}
	b.WriteString("del _path, _base, _kw, _m\n")
	return b.String()
}

// blindFetchError says why a hidden adapter's base could not be fetched
// without naming it.
func blindFetchError(err error) string {
	switch {
	case errors.Is(err, core.ErrNotFound):
		return "not found on the Hub"
	case errors.Is(err, core.ErrUnavailable):
		return "the Hub could not be reached"
	}
	return "the download failed"
}
