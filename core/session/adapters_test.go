package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/hub/hubtest"
)

// A LoRA adapter made with peft on a tiny random Llama, served by the test
// Hub: preloading brings its base along (found from adapter_config.json),
// gives each its MODEL_..._PATH, and loads the base with the adapter
// applied as a PeftModel, also hidden; an adapter whose base cannot be
// found is refused before anything is created.
func TestPEFTAdapter(t *testing.T) {
	py := torchPython(t)
	e := newResearchEnv(t)
	const base, lora = "sena-test/tiny-llama", "sena-test/tiny-lora"
	e.hub.AddRepo(base, "main", hubtest.TinyLlama())
	adapterDir := t.TempDir()
	if out, err := exec.Command(py, "testdata/make_lora.py", writeRepo(t, hubtest.TinyLlama()), adapterDir, base).CombinedOutput(); err != nil {
		t.Fatalf("make the adapter with peft: %v\n%s", err, out)
	}
	adapter := readRepo(t, adapterDir)
	e.hub.AddRepo(lora, "main", adapter)
	e.hub.AddRepo("sena-test/lora-of-a-path", "main", setJSON(t, adapter, "adapter_config.json", "base_model_name_or_path", "/home/me/checkpoints/llama"))
	e.hub.AddRepo("sena-test/lora-of-a-missing-model", "main", setJSON(t, adapter, "adapter_config.json", "base_model_name_or_path", "sena-test/no-such-model"))

	opts := map[string]any{"python": py}
	rec, s := e.up(t, &core.SandboxConfig{ProviderOptions: opts, Preload: true, Models: []core.ModelConfig{{Name: lora}}})
	if len(rec.Models) != 2 || !rec.Models[0].Adapter || rec.Models[0].Base != base || rec.Models[1].Name != base || rec.Models[1].BaseOf != lora {
		t.Fatalf("models recorded: %+v; want the adapter, then its base", rec.Models)
	}
	if rec.Models[0].Var != "model" || rec.Models[0].TokenizerVar != "tokenizer" {
		t.Errorf("preload variables recorded: %+v", rec.Models[0])
	}
	if env := rec.Environment; len(env.Models) != 2 || !env.Models[0].Adapter || env.Models[1].Commit == "" {
		t.Errorf("manifest models: %+v", env.Models)
	}
	// The preloaded model is the base with the adapter applied: the same
	// logits as peft gives loading both by hand, and not the base's.
	got := run(t, s, `import os, torch, peft
from transformers import AutoModelForCausalLM
ids = tokenizer("hello world", return_tensors="pt")["input_ids"]
b = AutoModelForCausalLM.from_pretrained(os.environ["MODEL_SENA_TEST_TINY_LLAMA_PATH"]).eval()
with torch.no_grad():
    plain = b(ids).logits
    by_hand = peft.PeftModel.from_pretrained(b, os.environ["MODEL_SENA_TEST_TINY_LORA_PATH"]).eval()(ids).logits
    ours = model(ids).logits
print(type(model).__name__, torch.allclose(ours, by_hand), torch.allclose(ours, plain))`)
	if got != "PeftModel True False" {
		t.Fatalf("the preloaded adapter: %q, want a PeftModel with the adapter's logits", got)
	}

	// Hidden: loaded the same, and nothing the notebook or the record holds
	// names the adapter or its base.
	rec2, s2 := e.up(t, &core.SandboxConfig{ProviderOptions: map[string]any{"python": py, "acknowledge_visible_models": true},
		HideModels: true, Models: []core.ModelConfig{{Name: lora}}})
	if got := run(t, s2, "print(type(model).__name__, model.peft_config['default'].base_model_name_or_path, tokenizer.name_or_path)"); got != "PeftModel hidden-model hidden-model" {
		t.Fatalf("hidden adapter: %q", got)
	}
	nb, _ := os.ReadFile(e.store.NotebookPath(rec2.ID))
	models, _ := json.Marshal(rec2.Models)
	for _, where := range [][]byte{nb, models} {
		if strings.Contains(string(where), "tiny-l") {
			t.Errorf("a hidden adapter's name is in the notebook or the session's models: %.300s", where)
		}
	}
	if len(rec2.Models) != 2 || rec2.Models[0].Base != rec2.Models[1].ID || rec2.Models[1].BaseOf != rec2.Models[0].ID {
		t.Errorf("hidden adapter and base recorded as %+v", rec2.Models)
	}

	// Refused before anything is created: a base that is a local path, and
	// one the Hub does not have.
	for _, c := range []struct{ model, want string }{
		{"sena-test/lora-of-a-path", "not a Hugging Face model id"},
		{"sena-test/lora-of-a-missing-model", "sena-test/no-such-model"},
	} {
		before, _ := e.store.List()
		_, err := e.m.Up(context.Background(), &core.SandboxConfig{ProviderOptions: opts, Preload: true, Models: []core.ModelConfig{{Name: c.model}}})
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, core.ErrInvalidConfig) && !errors.Is(err, core.ErrNotFound) {
			t.Errorf("%s: %v, want an error naming %q", c.model, err, c.want)
		}
		if after, _ := e.store.List(); len(after) != len(before) {
			t.Errorf("%s: a refused up left a session record", c.model)
		}
	}
}
