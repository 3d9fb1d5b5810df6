# Makes a LoRA adapter with peft on the model at argv[1] and saves it to
# argv[2]: random (not identity) LoRA weights, so applying it changes the
# model's outputs. The adapter's config names argv[3] as its base.
import json, os, sys

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

base, out, base_name = sys.argv[1], sys.argv[2], sys.argv[3]
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(base)
peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
peft_model.save_pretrained(out)
path = os.path.join(out, "adapter_config.json")
cfg = json.load(open(path))
cfg["base_model_name_or_path"] = base_name
json.dump(cfg, open(path, "w"))
