# The first experiment cell on the GPU session: `model` and `tokenizer` were
# preloaded by `sena up --preload`; the steering and activations skills are
# mounted. Prints one JSON line of timings and checks.
import json, os, time
import torch
from transformers import AutoModelForCausalLM
from activations import extract
from steering import steer, contrastive_vector

t = {}
dev = next(model.parameters()).device
t["device"] = str(dev)
t["gpu"] = torch.cuda.get_device_name(0)
t["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
t["params_B"] = sum(p.numel() for p in model.parameters()) / 1e9

s = time.perf_counter()
acts = extract(model, tokenizer, ["I love this movie", "I hate this movie", "The fox"], layers=[4, 8], positions="last", device="cpu")
torch.cuda.synchronize(); t["extract_s"] = time.perf_counter() - s
t["extract_shape"] = list(next(iter(acts.values())).shape) if isinstance(acts, dict) else str(type(acts))

s = time.perf_counter()
vec = contrastive_vector(model, tokenizer, ["I love this movie, it is wonderful."], ["I hate this movie, it is terrible."], layer=8)
ids = tokenizer("The quick brown fox", return_tensors="pt").to(dev)
with torch.no_grad():
    base = model(**ids).logits[0, -1].float()
    with steer(model, 8, vec.to(dev), scale=8.0):
        steered = model(**ids).logits[0, -1].float()
        gen = model.generate(**ids, max_new_tokens=8, do_sample=False)
torch.cuda.synchronize(); t["steer_s"] = time.perf_counter() - s
t["steer_logit_shift"] = float((steered - base).abs().max())
t["generated_tokens"] = int(gen.shape[1] - ids["input_ids"].shape[1])

# Weights to the GPU again, timed alone (no imports), for the floor comparison.
path = os.environ["MODEL_BENCH_LLAMA_1B_PATH"]
torch.cuda.synchronize()
s = time.perf_counter()
m2 = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16, device_map="cuda")
torch.cuda.synchronize(); t["reload_to_gpu_s"] = time.perf_counter() - s
del m2; torch.cuda.empty_cache()
print(json.dumps(t))
