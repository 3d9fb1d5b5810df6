"""Layer discovery, hook cleanup and tokenizer padding state."""
import pytest
import torch
from torch import nn
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from tiny import make_gpt2, make_llama, make_tokenizer
from hf_internals import decoder_layers, encode, final_norm, layer_hooks, padding


def test_finds_layers_and_norm_of_each_architecture():
    llama, gpt2 = make_llama(), make_gpt2()
    neox = GPTNeoXForCausalLM(GPTNeoXConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                            intermediate_size=64, vocab_size=50))
    assert decoder_layers(llama) is llama.model.layers and final_norm(llama) is llama.model.norm
    assert decoder_layers(gpt2) is gpt2.transformer.h and final_norm(gpt2) is gpt2.transformer.ln_f
    assert decoder_layers(neox) is neox.gpt_neox.layers and final_norm(neox) is neox.gpt_neox.final_layer_norm


def test_unknown_architecture_falls_back_to_layer_count():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = type("C", (), {"num_hidden_layers": 3})()
            self.heads = nn.ModuleList([nn.Linear(2, 2)])
            self.stack = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])

    odd = Odd()
    assert decoder_layers(odd) is odd.stack


def test_hooks_removed_when_block_raises():
    model = make_llama()
    calls = []
    with pytest.raises(RuntimeError):
        with layer_hooks(model, {0: lambda m, a, o: calls.append(1), -1: lambda m, a, o: calls.append(2)}):
            model(torch.tensor([[1, 5, 6]]))
            raise RuntimeError("boom")
    assert calls == [1, 2]
    assert all(not layer._forward_hooks for layer in model.model.layers)


def test_padding_is_temporary_and_encode_pads_on_that_side():
    tok = make_tokenizer(pad=False)
    with padding(tok, "left"):
        batch = encode(tok, ["the cat", "a big red dog"])
    assert tok.pad_token is None and tok.padding_side == "right"
    eos = tok.eos_token_id
    assert batch["input_ids"][0].tolist() == [eos, eos, 1, tok.convert_tokens_to_ids("the"), tok.convert_tokens_to_ids("cat")]
    assert batch["attention_mask"].tolist() == [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]


def test_encode_chat_adds_bos_once_and_prefills():
    tok = make_tokenizer()
    chat = [{"role": "user", "content": "the cat"}, {"role": "assistant", "content": "a dog"}]
    ids = encode(tok, [chat])["input_ids"][0].tolist()
    assert tok.convert_ids_to_tokens(ids) == ["<bos>", "user", ":", "the", "cat", "<eos>", "assistant", ":", "a", "dog"]
    ids = encode(tok, [chat[:1]])["input_ids"][0].tolist()
    assert tok.convert_ids_to_tokens(ids)[-3:] == ["<eos>", "assistant", ":"]
