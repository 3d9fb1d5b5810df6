"""Batched text generation with correct left padding.

Decoder-only models continue from the last position of each row, so a batch must be
padded on the left; the new tokens then start at the same column (the padded prompt
length) in every row, which is where the prompt is cut off before decoding.
"""
from __future__ import annotations

import torch

from hf_internals import encode, model_device, padding


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts,
    max_new_tokens: int = 64,
    batch_size: int = 16,
    do_sample: bool = False,
    skip_special_tokens: bool = True,
    **generate_kwargs,
):
    """Generate a completion for each prompt; greedy (deterministic) unless do_sample=True.

    ``prompts`` is a string, a chat message list, or a list of either; a chat ending with
    an assistant message is a prefill the model continues. Returns the completions
    without their prompts: a string for a single prompt, else a list in input order.
    Extra keyword arguments (temperature, top_p, ...) go to ``model.generate``.
    """
    single = isinstance(prompts, str) or (prompts and isinstance(prompts[0], dict))
    batch = [prompts] if single else list(prompts)
    out = []
    with padding(tokenizer, "left"):
        for start in range(0, len(batch), batch_size):
            enc = encode(tokenizer, batch[start : start + batch_size], model_device(model))
            ids = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                pad_token_id=tokenizer.pad_token_id,
                **generate_kwargs,
            )
            new = ids[:, enc["input_ids"].shape[1] :]
            out += tokenizer.batch_decode(new, skip_special_tokens=skip_special_tokens)
    return out[0] if single else out
