"""Residual-stream activations at chosen layers and token positions, batched.

"Layer i" is the output of decoder layer i (``hidden_states[i + 1]`` in Hugging Face
terms, but before the final norm that HF applies to its last entry). Positions count
real tokens only, so padding on either side gives the same answer as no padding.
"""
from __future__ import annotations

import torch

from hf_internals import encode, forward_inputs, hidden_of, layer_hooks, model_device, padding, resolve_layer


def _select(h: torch.Tensor, real: torch.Tensor, positions):
    """Pick positions from one row ``h`` (T, D) whose real-token indices are ``real``."""
    if positions == "all":
        return h[real]
    if positions == "mean":
        return h[real].mean(0)
    if positions == "last":
        return h[real[-1]]
    idx = [positions] if isinstance(positions, int) else list(positions)
    for i in idx:
        if not -len(real) <= i < len(real):
            raise IndexError(f"position {i} out of range for a prompt of {len(real)} tokens")
    picked = h[real[idx]]
    return picked[0] if isinstance(positions, int) else picked


@torch.no_grad()
def extract(model, tokenizer, prompts, layers, positions="last", batch_size: int = 16, device="cpu"):
    """Return residual-stream activations.

    prompts: a string, a chat message list, or a list of either.
    layers: an int (negative counts from the end) or a list of ints.
    positions: "last", "mean" (over real tokens), "all", an int or a list of ints
        (indices into the prompt's real tokens, negative from its end).
    device: where results go ("cpu" by default; None keeps them on the model's device).

    Shapes per layer: (N, D) for "last", "mean" or an int; (N, P, D) for a list of P
    positions; a list of N tensors (T_i, D) for "all". A single prompt drops the N axis.
    An int ``layers`` returns that layer's value, a list returns {layer: value}.
    """
    single = isinstance(prompts, str) or (prompts and isinstance(prompts[0], dict))
    batch = [prompts] if single else list(prompts)
    wanted = [layers] if isinstance(layers, int) else list(layers)
    idx = [resolve_layer(model, layer) for layer in wanted]
    results = {layer: [] for layer in wanted}
    captured = {}

    def capture(i):
        def hook(module, args, output):
            captured[i] = hidden_of(output)

        return hook

    with padding(tokenizer), layer_hooks(model, {i: capture(i) for i in set(idx)}):
        for start in range(0, len(batch), batch_size):
            enc = encode(tokenizer, batch[start : start + batch_size], model_device(model))
            model(**forward_inputs(model, enc))
            for row, mask in enumerate(enc["attention_mask"]):
                real = mask.nonzero().squeeze(-1)
                for layer, i in zip(wanted, idx):
                    h = captured[i][row]  # layers may sit on different GPUs (device_map)
                    picked = _select(h, real.to(h.device), positions)
                    results[layer].append(picked.to(device) if device is not None else picked)
            captured.clear()
    out = {layer: (vals[0] if single else vals if positions == "all" else torch.stack(vals))
           for layer, vals in results.items()}
    return out[layers] if isinstance(layers, int) else out
