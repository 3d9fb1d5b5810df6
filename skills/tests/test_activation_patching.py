"""Activation patching against causal invariants and a hand-patched forward."""
import pytest
import torch

from activation_patching import patch

CLEAN, CORRUPT = "the cat sat on the mat in paris", "the dog sat on the mat in paris"  # differ at token 2


def logit_diff(logits, good, bad):
    return (logits[0, -1, good] - logits[0, -1, bad]).item()


def test_patching_grid(model, tokenizer):
    good, bad = tokenizer.convert_tokens_to_ids(["rome", "city"])
    r = patch(model, tokenizer, CLEAN, CORRUPT, "rome", "city")
    n_tok = len(tokenizer(CLEAN)["input_ids"])
    assert r.logit_diff.shape == (3, n_tok) and r.positions == list(range(n_tok))
    with torch.no_grad():
        clean_out = model(**tokenizer(CLEAN, return_tensors="pt"), output_hidden_states=True)
        corrupt_ids = tokenizer(CORRUPT, return_tensors="pt")
        assert r.clean_diff == pytest.approx(logit_diff(clean_out.logits, good, bad))
        assert r.corrupted_diff == pytest.approx(logit_diff(model(**corrupt_ids).logits, good, bad))
        assert abs(r.clean_diff - r.corrupted_diff) > 1e-3
        # Tokens before the changed one are identical in both runs: patching them does nothing.
        torch.testing.assert_close(r.logit_diff[:, :2], torch.full((3, 2), r.corrupted_diff, dtype=r.logit_diff.dtype))
        # The last layer at the last position determines the answer logits entirely.
        assert r.logit_diff[-1, -1].item() == pytest.approx(r.clean_diff)
        assert r.recovered[-1, -1].item() == pytest.approx(1.0)
        # Any single cell equals a forward patched by hand (layer 1, position 2).
        def put(module, args, output):
            h = (output[0] if isinstance(output, tuple) else output).clone()
            h[0, 2] = clean_out.hidden_states[2][0, 2]
            return (h,) + output[1:] if isinstance(output, tuple) else h
        layer = (model.model.layers if hasattr(model, "model") else model.transformer.h)[1]
        handle = layer.register_forward_hook(put)
        try:
            manual = logit_diff(model(**corrupt_ids).logits, good, bad)
        finally:
            handle.remove()
    assert r.logit_diff[1, 2].item() == pytest.approx(manual)
    assert manual != pytest.approx(r.corrupted_diff)


def test_subset_of_layers_and_positions(model, tokenizer):
    full = patch(model, tokenizer, CLEAN, CORRUPT, "rome", "city")
    part = patch(model, tokenizer, CLEAN, CORRUPT, "rome", "city", layers=[-1], positions=[2, -1])
    assert part.layers == [2] and part.positions == [2, full.logit_diff.shape[1] - 1]
    torch.testing.assert_close(part.logit_diff[0], full.logit_diff[2, [2, -1]])


def test_bad_inputs(model, tokenizer):
    with pytest.raises(ValueError):
        patch(model, tokenizer, CLEAN, "the dog sat", "rome", "city")
    with pytest.raises(ValueError):
        patch(model, tokenizer, CLEAN, CORRUPT, "rome city", "city")
