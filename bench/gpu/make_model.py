"""Write a Llama-style model of realistic size (about 1.2B parameters, the
shape of Llama 3.2 1B) with random bf16 weights as safetensors, plus a small
byte-level BPE tokenizer, into DIR. No hub, no download: made on the spot.

usage: python3 make_model.py DIR
"""
import sys
import time

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

out = sys.argv[1]
t0 = time.time()
cfg = LlamaConfig(
    hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
    num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
    max_position_embeddings=4096, tie_word_embeddings=True,
    bos_token_id=1, eos_token_id=2,
)
torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
with torch.device(device):
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
params = sum(p.numel() for p in model.parameters())
model.save_pretrained(out, safe_serialization=True, max_shard_size="1GB")

corpus = ["The quick brown fox jumps over the lazy dog.",
          "Interpretability research studies the internals of neural networks.",
          "Steering vectors shift a model's residual stream toward a concept.",
          "I love this movie, it is wonderful.", "I hate this movie, it is terrible."] * 50
tok = Tokenizer(models.BPE(unk_token=None))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=1000, special_tokens=["<pad>", "<s>", "</s>"],
                                                    initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
fast.save_pretrained(out)
print(f"wrote {params/1e9:.2f}B parameters to {out} in {time.time()-t0:.1f}s")
