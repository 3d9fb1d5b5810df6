"""Tiny randomly initialised models and a word-level tokenizer, built at test time.

Weights are drawn wider than HF's default (initializer_range 0.1) so greedy outputs
vary from step to step instead of repeating one token, and the configs have no EOS so
every row generates its full length. Models run in float64 so that batched and
unbatched runs agree far below the gaps between logits, and greedy decoding cannot
flip on rounding. No pytest import: gpu_smoke.py uses these builders too.
"""
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

WORDS = (
    "the a cat dog bird sat ran on under mat box red blue big small happy sad "
    "paris rome is in city of user assistant : love hate this movie day"
).split()
SPECIAL = ["<pad>", "<bos>", "<eos>", "<unk>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }} : {{ m['content'] }}"
    "{% if not loop.last %} <eos> {% endif %}{% endfor %}"
    "{% if add_generation_prompt %} <eos> assistant :{% endif %}"
)


def make_tokenizer(pad=True):
    """Word-level tokenizer that prepends <bos>, like Llama's."""
    vocab = {w: i for i, w in enumerate(SPECIAL + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>")
    if pad:
        fast.pad_token = "<pad>"
    fast.chat_template = CHAT_TEMPLATE
    return fast


def make_llama():
    torch.manual_seed(0)
    cfg = LlamaConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=len(SPECIAL + WORDS), max_position_embeddings=128,
        initializer_range=0.1, pad_token_id=0, bos_token_id=1, eos_token_id=None,
    )
    return LlamaForCausalLM(cfg).double().eval()


def make_gpt2():
    torch.manual_seed(0)
    cfg = GPT2Config(
        n_embd=64, n_layer=3, n_head=4, vocab_size=len(SPECIAL + WORDS), n_positions=128,
        initializer_range=0.1, pad_token_id=0, bos_token_id=1, eos_token_id=None,
    )
    return GPT2LMHeadModel(cfg).double().eval()


PROMPTS = ["the cat sat on the mat", "a dog", "big red box is in the city of paris", "happy"]
