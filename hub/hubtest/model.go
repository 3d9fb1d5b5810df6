package hubtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
)

// LlamaConfig sizes a randomly initialised LlamaForCausalLM.
type LlamaConfig struct {
	Vocab, Hidden, Intermediate, Layers, Heads, KVHeads int
}

// TinyLlamaConfig is small enough to load on a CPU in well under a second.
var TinyLlamaConfig = LlamaConfig{Vocab: 32, Hidden: 16, Intermediate: 32, Layers: 2, Heads: 2, KVHeads: 1}

// TinyLlama is a complete model repo for TinyLlamaConfig: config.json,
// generation_config.json, a fast tokenizer (tokenizer.json and its config),
// model.safetensors, and a pytorch_model.bin decoy that a client preferring
// safetensors must skip. transformers loads it with AutoModelForCausalLM
// and AutoTokenizer.
func TinyLlama() map[string][]byte { return LlamaRepo(TinyLlamaConfig) }

// LlamaRepo is a model repo as TinyLlama describes, sized by cfg. Weights are
// deterministic, so the same cfg always gives the same blobs.
func LlamaRepo(cfg LlamaConfig) map[string][]byte {
	files := map[string][]byte{
		"config.json":            mustJSON(llamaConfigJSON(cfg)),
		"generation_config.json": mustJSON(map[string]any{"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}),
		".gitattributes":         []byte("*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"),
		"README.md":              []byte("---\nlibrary_name: transformers\n---\n# A tiny random Llama made by hubtest\n"),
		"model.safetensors":      WriteSafetensors(llamaTensors(cfg)),
		// Not a loadable pickle: a client that downloads it when safetensors exist is wrong anyway.
		"pytorch_model.bin": []byte("decoy: pickled weights a safetensors-preferring client must not fetch\n"),
	}
	for name, data := range tokenizerFiles(cfg.Vocab) {
		files[name] = data
	}
	return files
}

// ShardedLlama is LlamaRepo with its weights split across shards
// safetensors files (model-00001-of-0000N.safetensors and the index
// transformers reads), and decoy .bin shards with their index beside them,
// as large repos on the Hub ship both.
func ShardedLlama(cfg LlamaConfig, shards int) map[string][]byte {
	files := LlamaRepo(cfg)
	delete(files, "model.safetensors")
	delete(files, "pytorch_model.bin")
	tensors := llamaTensors(cfg)
	names := slices.Sorted(maps.Keys(tensors))
	weightMap, binMap := map[string]string{}, map[string]string{}
	var total int64
	for k := range shards {
		part := map[string]Tensor{}
		for i := k; i < len(names); i += shards {
			part[names[i]] = tensors[names[i]]
		}
		st := fmt.Sprintf("model-%05d-of-%05d.safetensors", k+1, shards)
		bin := fmt.Sprintf("pytorch_model-%05d-of-%05d.bin", k+1, shards)
		for n, t := range part {
			weightMap[n], binMap[n] = st, bin
			total += int64(4 * len(t.Data))
		}
		files[st] = WriteSafetensors(part)
		files[bin] = []byte("decoy shard: pickled weights a safetensors-preferring client must not fetch\n")
	}
	files["model.safetensors.index.json"] = mustJSON(map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap})
	files["pytorch_model.bin.index.json"] = mustJSON(map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": binMap})
	return files
}

func llamaConfigJSON(c LlamaConfig) map[string]any {
	return map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"vocab_size":              c.Vocab,
		"hidden_size":             c.Hidden,
		"intermediate_size":       c.Intermediate,
		"num_hidden_layers":       c.Layers,
		"num_attention_heads":     c.Heads,
		"num_key_value_heads":     c.KVHeads,
		"max_position_embeddings": 128,
		"rms_norm_eps":            1e-6,
		"hidden_act":              "silu",
		"tie_word_embeddings":     false,
		"torch_dtype":             "float32",
		"bos_token_id":            1,
		"eos_token_id":            2,
		"pad_token_id":            0,
	}
}

// llamaTensors names and shapes every weight as transformers' LlamaForCausalLM does.
func llamaTensors(c LlamaConfig) map[string]Tensor {
	rng := rand.New(rand.NewPCG(uint64(c.Hidden), uint64(c.Layers)))
	head := c.Hidden / c.Heads
	random := func(rows, cols int) Tensor {
		d := make([]float32, rows*cols)
		for i := range d {
			d[i] = float32(rng.NormFloat64() * 0.02)
		}
		return Tensor{Shape: []int{rows, cols}, Data: d}
	}
	ones := func(n int) Tensor {
		d := make([]float32, n)
		for i := range d {
			d[i] = 1
		}
		return Tensor{Shape: []int{n}, Data: d}
	}
	t := map[string]Tensor{
		"model.embed_tokens.weight": random(c.Vocab, c.Hidden),
		"model.norm.weight":         ones(c.Hidden),
		"lm_head.weight":            random(c.Vocab, c.Hidden),
	}
	for i := range c.Layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		t[p+"input_layernorm.weight"] = ones(c.Hidden)
		t[p+"post_attention_layernorm.weight"] = ones(c.Hidden)
		t[p+"self_attn.q_proj.weight"] = random(c.Heads*head, c.Hidden)
		t[p+"self_attn.k_proj.weight"] = random(c.KVHeads*head, c.Hidden)
		t[p+"self_attn.v_proj.weight"] = random(c.KVHeads*head, c.Hidden)
		t[p+"self_attn.o_proj.weight"] = random(c.Hidden, c.Heads*head)
		t[p+"mlp.gate_proj.weight"] = random(c.Intermediate, c.Hidden)
		t[p+"mlp.up_proj.weight"] = random(c.Intermediate, c.Hidden)
		t[p+"mlp.down_proj.weight"] = random(c.Hidden, c.Intermediate)
	}
	return t
}

// tokenizerFiles is a word-level fast tokenizer: three special tokens, then
// "w3".."wN" and a few English words, split on whitespace.
func tokenizerFiles(vocab int) map[string][]byte {
	words := []string{"<pad>", "<s>", "</s>", "<unk>", "hello", "world", "the", "a", "model"}
	for i := len(words); i < vocab; i++ {
		words = append(words, fmt.Sprintf("w%d", i))
	}
	ids := map[string]int{}
	for i, w := range words[:vocab] {
		ids[w] = i
	}
	var added []map[string]any
	for i, w := range words[:4] {
		added = append(added, map[string]any{"id": i, "content": w, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true})
	}
	tok := map[string]any{
		"version":        "1.0",
		"truncation":     nil,
		"padding":        nil,
		"added_tokens":   added,
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "Whitespace"},
		"post_processor": nil,
		"decoder":        nil,
		"model":          map[string]any{"type": "WordLevel", "vocab": ids, "unk_token": "<unk>"},
	}
	cfg := map[string]any{
		"tokenizer_class":  "PreTrainedTokenizerFast",
		"bos_token":        "<s>",
		"eos_token":        "</s>",
		"unk_token":        "<unk>",
		"pad_token":        "<pad>",
		"model_max_length": 128,
	}
	special := map[string]any{"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
	return map[string][]byte{
		"tokenizer.json":          mustJSON(tok),
		"tokenizer_config.json":   mustJSON(cfg),
		"special_tokens_map.json": mustJSON(special),
	}
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // only plain values: cannot fail
	}
	return append(b, '\n')
}
