"""Activation steering: add a vector to the residual stream at one decoder layer.

The vector is added to the layer's output at every forward pass made inside the
``with`` block, so prompt tokens and every generated token are steered alike
(with a KV cache each generation step is a one-token forward, which is steered too).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from activations import extract
from hf_internals import hidden_of, layer_hooks, unwrap, with_hidden


def _track_positions(state: dict):
    """Model pre-hook: record each current token's index among its row's real tokens."""

    def hook(module, args, kwargs):
        mask = kwargs.get("attention_mask")
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        state["real_pos"] = mask.cumsum(-1) - 1 if mask is not None and mask.dim() == 2 else None
        state["past"] = cache.get_seq_length() if hasattr(cache, "get_seq_length") else 0

    return hook


@contextlib.contextmanager
def steer(model, layer: int, vector: torch.Tensor, scale: float = 1.0, start_pos: int = 0) -> Iterator[None]:
    """Within the block, add ``scale * vector`` to the output of decoder layer ``layer``.

    ``start_pos`` > 0 leaves the first ``start_pos`` real tokens of each prompt
    unsteered (counted after any padding); generated tokens are always steered.
    Nest blocks to steer several layers. Hooks are removed however the block exits.
    """
    hidden_size = unwrap(model).config.get_text_config().hidden_size
    vector = torch.as_tensor(vector).detach().flatten()
    if vector.numel() != hidden_size:
        raise ValueError(f"steering vector has {vector.numel()} values, the model's hidden size is {hidden_size}")
    state: dict = {}

    def add(module, args, output):
        h = hidden_of(output)
        delta = scale * vector.to(h.device, h.dtype)
        if start_pos > 0:
            t = h.shape[1]
            if state.get("real_pos") is not None:
                pos = state["real_pos"][:, -t:].to(h.device)
            else:
                pos = torch.arange(state.get("past", 0), state.get("past", 0) + t, device=h.device).expand(h.shape[0], t)
            delta = delta * (pos >= start_pos).unsqueeze(-1).to(h.dtype)
        return with_hidden(output, h + delta)

    pre = unwrap(model).register_forward_pre_hook(_track_positions(state), with_kwargs=True) if start_pos > 0 else None
    try:
        with layer_hooks(model, {layer: add}):
            yield
    finally:
        if pre is not None:
            pre.remove()


def contrastive_vector(model, tokenizer, positive, negative, layer: int, positions="last", batch_size: int = 16):
    """Steering vector: mean activation over ``positive`` minus mean over ``negative``.

    Activations are taken at ``layer`` (the same layer to steer) at ``positions``
    ("last" or "mean" are usual); returns a float32 CPU tensor of the hidden size.
    """
    pos = extract(model, tokenizer, list(positive), layer, positions, batch_size).float()
    neg = extract(model, tokenizer, list(negative), layer, positions, batch_size).float()
    return pos.mean(0) - neg.mean(0)
