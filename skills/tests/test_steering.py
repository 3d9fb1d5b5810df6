"""Steering: exact effect on the residual, every generated step steered, hooks cleaned up."""
import pytest
import torch

from activations import extract
from tiny import PROMPTS
from hf_internals import decoder_layers, unembed
from steering import contrastive_vector, steer


def logits(model, tokenizer, prompt):
    with torch.no_grad():
        return model(**tokenizer(prompt, return_tensors="pt")).logits[0]


def random_vector(model, seed=1, norm=10.0):
    v = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return v / v.norm() * norm


def test_scale_zero_changes_nothing(model, tokenizer):
    plain = logits(model, tokenizer, PROMPTS[0])
    with steer(model, 1, random_vector(model), scale=0.0):
        torch.testing.assert_close(logits(model, tokenizer, PROMPTS[0]), plain, rtol=0, atol=0)


def test_last_layer_steering_equals_unembedding_shifted_residual(model, tokenizer):
    v = random_vector(model)
    h = extract(model, tokenizer, PROMPTS[2], layers=-1, positions="all")
    with torch.no_grad():
        expected = unembed(model, h + 0.5 * v)
    with steer(model, -1, v, scale=0.5):
        torch.testing.assert_close(logits(model, tokenizer, PROMPTS[2]), expected)


def test_every_generated_token_is_steered(model, tokenizer):
    """Cached generation (one-token forwards) must match a full steered forward over the
    same sequence, and differ from the unsteered one, at every step."""
    v, steps = random_vector(model), 5
    enc = tokenizer(PROMPTS[0], return_tensors="pt")
    n = enc["input_ids"].shape[1]
    seen = []
    spy = decoder_layers(model)[2].register_forward_hook(lambda m, a, o: seen.append(o.shape[1] if torch.is_tensor(o) else o[0].shape[1]))
    try:
        with steer(model, 1, v, scale=1.0):
            out = model.generate(**enc, max_new_tokens=steps, do_sample=False, output_logits=True,
                                 return_dict_in_generate=True, pad_token_id=0)
    finally:
        spy.remove()
    assert seen == [n] + [1] * (steps - 1)  # prompt pass, then one-token cached steps
    seq = out.sequences
    with torch.no_grad():
        with steer(model, 1, v, scale=1.0):
            full = model(seq).logits[0]
        plain = model(seq).logits[0]
    for step, step_logits in enumerate(out.logits):
        torch.testing.assert_close(step_logits[0], full[n - 1 + step].float())  # generate keeps float32
        assert (step_logits[0] - plain[n - 1 + step]).abs().max() > 1e-3


@pytest.mark.parametrize("side", ["left", "right"])
def test_start_pos_counts_real_tokens(model, tokenizer, side):
    v, k, layer = random_vector(model), 2, 1
    base = extract(model, tokenizer, PROMPTS, layers=layer, positions="all")
    tokenizer.padding_side = side
    try:
        with steer(model, layer, v, scale=1.0, start_pos=k):
            steered = extract(model, tokenizer, PROMPTS, layers=layer, positions="all")
    finally:
        tokenizer.padding_side = "right"
    for b, s in zip(base, steered):
        torch.testing.assert_close(s[:k], b[:k])
        torch.testing.assert_close(s[k:], b[k:] + v)


def test_start_pos_still_steers_generated_tokens(model, tokenizer):
    v, steps = random_vector(model), 4
    enc = tokenizer(PROMPTS[1], return_tensors="pt")
    n = enc["input_ids"].shape[1]  # start_pos = n: only generated tokens are steered
    with steer(model, 1, v, start_pos=n):
        out = model.generate(**enc, max_new_tokens=steps, do_sample=False, output_logits=True,
                             return_dict_in_generate=True, pad_token_id=0)
    plain_first = logits(model, tokenizer, PROMPTS[1])[-1]
    torch.testing.assert_close(out.logits[0][0], plain_first.float())  # last prompt token unsteered
    with torch.no_grad(), steer(model, 1, v, start_pos=n):
        full = model(out.sequences, attention_mask=torch.ones_like(out.sequences)).logits[0]
    for step in range(1, steps):
        torch.testing.assert_close(out.logits[step][0], full[n - 1 + step].float())


def test_hooks_removed_after_exception(model, tokenizer):
    plain = logits(model, tokenizer, PROMPTS[0])
    # transformers installs its own permanent capture hooks: compare against those.
    before = [list(layer._forward_hooks) for layer in decoder_layers(model)], list(model._forward_pre_hooks)
    with pytest.raises(ZeroDivisionError):
        with steer(model, 0, random_vector(model), scale=3.0, start_pos=1):
            assert not torch.allclose(logits(model, tokenizer, PROMPTS[0]), plain)
            1 / 0
    assert ([list(layer._forward_hooks) for layer in decoder_layers(model)], list(model._forward_pre_hooks)) == before
    torch.testing.assert_close(logits(model, tokenizer, PROMPTS[0]), plain, rtol=0, atol=0)


def test_wrong_vector_size_is_refused(model):
    with pytest.raises(ValueError):
        with steer(model, 0, torch.zeros(model.config.hidden_size + 1)):
            pass


def test_contrastive_vector_is_mean_difference(model, tokenizer):
    pos, neg = ["i love this movie", "happy day"], ["i hate this movie", "sad day", "the sad cat"]

    def last(prompt):
        with torch.no_grad():
            hs = model(**tokenizer(prompt, return_tensors="pt"), output_hidden_states=True).hidden_states
        return hs[2][0, -1]  # output of layer 1

    expected = torch.stack([last(p) for p in pos]).mean(0) - torch.stack([last(p) for p in neg]).mean(0)
    vec = contrastive_vector(model, tokenizer, pos, neg, layer=1)
    assert vec.dtype == torch.float32 and vec.device.type == "cpu"
    torch.testing.assert_close(vec, expected.float())
