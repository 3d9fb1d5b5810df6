"""Activation extraction against output_hidden_states of manual, unpadded forwards."""
import pytest
import torch

from activations import extract
from tiny import PROMPTS
from hf_internals import final_norm


def reference(model, tokenizer, prompt):
    """Per-layer (T, D) residuals from an unpadded forward: HF's hidden_states[i + 1],
    except the last entry, which HF returns after the final norm."""
    ids = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        hs = model(**ids, output_hidden_states=True).hidden_states
    return [h[0] for h in hs[1:]]


def test_matches_hidden_states(model, tokenizer):
    acts = extract(model, tokenizer, PROMPTS, layers=[0, 1, 2], positions="all")
    for n, prompt in enumerate(PROMPTS):
        ref = reference(model, tokenizer, prompt)
        torch.testing.assert_close(acts[0][n], ref[0])
        torch.testing.assert_close(acts[1][n], ref[1])
        # Last layer: HF's entry is normed, ours is the raw layer output.
        with torch.no_grad():
            torch.testing.assert_close(final_norm(model)(acts[2][n]), ref[2])
        assert not torch.allclose(acts[2][n], ref[2])


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("positions", ["last", "mean", [0, -1], 1])
def test_batched_padding_equals_unbatched(model, tokenizer, side, positions):
    tokenizer.padding_side = side
    try:
        batched = extract(model, tokenizer, PROMPTS, layers=[1, -1], positions=positions, batch_size=3)
    finally:
        tokenizer.padding_side = "right"
    for n, prompt in enumerate(PROMPTS):
        for layer in (1, -1):
            alone = extract(model, tokenizer, prompt, layers=layer, positions=positions)
            torch.testing.assert_close(batched[layer][n], alone)
    ref = reference(model, tokenizer, PROMPTS[0])[1]
    expected = {"last": ref[-1], "mean": ref.mean(0), "1": ref[1], "[0, -1]": ref[[0, -1]]}[str(positions)]
    torch.testing.assert_close(batched[1][0], expected)

def test_shapes_and_device(model, tokenizer):
    d = model.config.hidden_size
    assert extract(model, tokenizer, PROMPTS, layers=0).shape == (4, d)
    assert extract(model, tokenizer, PROMPTS, layers=0, positions=[0, 1, -1]).shape == (4, 3, d)
    single = extract(model, tokenizer, "a dog", layers=[0], positions="all")[0]
    assert single.shape == (3, d) and single.device.type == "cpu"


def test_position_out_of_range(model, tokenizer):
    with pytest.raises(IndexError):
        extract(model, tokenizer, ["a dog"], layers=0, positions=[5])
    with pytest.raises(IndexError):
        extract(model, tokenizer, ["a dog"], layers=7)
