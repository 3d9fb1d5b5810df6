"""Logit lens against the model's own logits and a manual norm + head projection."""
import torch

from tiny import PROMPTS
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


def test_gemma2_soft_capping_and_offset_norm(tokenizer):
    """Gemma-2 caps its logits (tanh) and scales embeddings: the lens must follow suit."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    cfg = Gemma2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=16, vocab_size=len(tokenizer), initializer_range=0.1,
                       final_logit_softcapping=0.5, pad_token_id=0, bos_token_id=1, eos_token_id=None)
    model = Gemma2ForCausalLM(cfg).double().eval()
    logits = forward(model, tokenizer, PROMPTS[0]).logits[0, -1]
    assert logits.abs().max() < 0.5  # the cap is active
    torch.testing.assert_close(lens_logits(model, tokenizer, PROMPTS[0])[-1], logits.float())
