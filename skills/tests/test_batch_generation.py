"""Batched left-padded greedy generation against a hand-written greedy loop per prompt."""
import torch

from batch_generation import generate
from tiny import PROMPTS, make_tokenizer


def greedy_reference(model, tokenizer, prompt, steps):
    """Greedy decoding without generate(), padding or a KV cache: full forward, argmax."""
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    n = ids.shape[1]
    with torch.no_grad():
        for _ in range(steps):
            nxt = model(ids).logits[0, -1].argmax()
            ids = torch.cat([ids, nxt.view(1, 1)], dim=1)
    return ids[0, n:].tolist()


def test_batched_equals_unpadded_greedy(model, tokenizer):
    tok = make_tokenizer()  # padding_side "right": generate must switch to left and back
    out = generate(model, tok, PROMPTS, max_new_tokens=6, batch_size=3, skip_special_tokens=False)
    assert tok.padding_side == "right"
    for prompt, text in zip(PROMPTS, out):
        expected = tok.decode(greedy_reference(model, tok, prompt, 6), skip_special_tokens=False)
        assert text == expected
    # Deterministic, and a single prompt gives a plain string.
    assert generate(model, tok, PROMPTS[2], max_new_tokens=6, skip_special_tokens=False) == out[2]


def test_missing_pad_token_uses_eos_and_is_restored(model):
    tok = make_tokenizer(pad=False)
    out = generate(model, tok, PROMPTS[:2], max_new_tokens=4, skip_special_tokens=False)
    assert tok.pad_token is None
    assert out[1] == tok.decode(greedy_reference(model, tok, PROMPTS[1], 4), skip_special_tokens=False)


def test_chat_prefill_continues_assistant_message(model, tokenizer):
    chat = [{"role": "user", "content": "the cat"}, {"role": "assistant", "content": "a dog"}]
    text = generate(model, tokenizer, [chat, "happy"], max_new_tokens=5, skip_special_tokens=False)[0]
    expected = greedy_reference(model, tokenizer, "user : the cat <eos> assistant : a dog", 5)
    assert text == tokenizer.decode(expected, skip_special_tokens=False)
