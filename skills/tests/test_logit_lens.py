"""Logit lens against the model's own logits and a manual norm + head projection."""
import torch

from conftest import PROMPTS
from hf_internals import final_norm
from logit_lens import lens_logits, logit_lens


def forward(model, tokenizer, prompt):
    with torch.no_grad():
        return model(**tokenizer(prompt, return_tensors="pt"), output_hidden_states=True)


def test_last_layer_is_the_models_logits(model, tokenizer):
    out = forward(model, tokenizer, PROMPTS[2])
    for position in (-1, 3):
        lens = lens_logits(model, tokenizer, PROMPTS[2], position=position)
        assert lens.shape == (3, model.config.vocab_size) and lens.dtype == torch.float32
        torch.testing.assert_close(lens[-1], out.logits[0, position].float())


def test_middle_layers_project_through_norm_and_head(model, tokenizer):
    out = forward(model, tokenizer, PROMPTS[0])
    lens = lens_logits(model, tokenizer, PROMPTS[0], layers=[0, 1])
    with torch.no_grad():
        for row, layer in enumerate([0, 1]):
            expected = model.get_output_embeddings()(final_norm(model)(out.hidden_states[layer + 1][0, -1]))
            torch.testing.assert_close(lens[row], expected.float())
    assert not torch.allclose(lens[0], lens[1])


def test_top_k_tokens(model, tokenizer):
    result = logit_lens(model, tokenizer, PROMPTS[2], k=3)
    logits = forward(model, tokenizer, PROMPTS[2]).logits[0, -1]
    probs, ids = logits.softmax(-1).topk(3)
    assert result.layers == [0, 1, 2]
    assert result.ids[-1].tolist() == ids.tolist()
    assert result.tokens[-1] == [tokenizer.decode([i]) for i in ids.tolist()]
    torch.testing.assert_close(result.probs[-1], probs.float())
    assert f"layer   2: {result.tokens[-1][0]!r}" in str(result)
