"""Activation patching: which (layer, position) activations carry the clean behaviour?

Run the clean prompt, keep every layer's output; then rerun the corrupted prompt with
one (layer, position) replaced by its clean value and measure the logit difference
between a correct and an incorrect answer token at the last position.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from hf_internals import decoder_layers, encode, forward_inputs, hidden_of, layer_hooks, model_device, padding, with_hidden


@dataclass
class PatchResult:
    """Logit differences (correct - incorrect) of every patch and of the two baselines."""

    layers: list[int]
    positions: list[int]
    logit_diff: torch.Tensor  # (n_layers, n_positions)
    clean_diff: float
    corrupted_diff: float

    @property
    def recovered(self) -> torch.Tensor:
        """Fraction of the clean-vs-corrupted gap each patch restores (1 = fully clean)."""
        return (self.logit_diff - self.corrupted_diff) / (self.clean_diff - self.corrupted_diff)


def _token_id(tokenizer, token) -> int:
    if isinstance(token, int):
        return token
    ids = tokenizer(token, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ValueError(f"{token!r} is {len(ids)} tokens; pass a single token or a token id")
    return ids[0]


def _diff(logits: torch.Tensor, good: int, bad: int) -> torch.Tensor:
    return (logits[:, -1, good] - logits[:, -1, bad]).float().cpu()


@torch.no_grad()
def patch(model, tokenizer, clean, corrupted, correct, incorrect, layers=None, positions=None) -> PatchResult:
    """Patch clean activations into the corrupted run, one (layer, position) at a time.

    ``clean`` and ``corrupted`` are prompts (strings or chats) of the same token length;
    ``correct`` / ``incorrect`` are answer tokens (strings of one token, or ids).
    ``layers`` and ``positions`` default to all. Each layer's patches run as one batch.
    """
    good, bad = _token_id(tokenizer, correct), _token_id(tokenizer, incorrect)
    with padding(tokenizer):
        clean_ids = encode(tokenizer, [clean], model_device(model))
        corrupt_ids = encode(tokenizer, [corrupted], model_device(model))
    n_tok = clean_ids["input_ids"].shape[1]
    if corrupt_ids["input_ids"].shape[1] != n_tok:
        raise ValueError(f"clean has {n_tok} tokens, corrupted {corrupt_ids['input_ids'].shape[1]}: they must match")
    n_layers = len(decoder_layers(model))
    layers = list(range(n_layers)) if layers is None else [layer % n_layers for layer in layers]
    positions = list(range(n_tok)) if positions is None else [p % n_tok for p in positions]

    cache = {}

    def keep(i):
        return lambda module, args, output: cache.__setitem__(i, hidden_of(output))

    with layer_hooks(model, {i: keep(i) for i in layers}):
        clean_diff = _diff(model(**forward_inputs(model, clean_ids)).logits, good, bad).item()
    corrupted_diff = _diff(model(**forward_inputs(model, corrupt_ids)).logits, good, bad).item()

    rows = torch.arange(len(positions))
    cols = torch.tensor(positions)
    batch = {k: v.expand(len(positions), -1) for k, v in corrupt_ids.items()}
    grid = []
    for layer in layers:

        def put(module, args, output, layer=layer):
            h = hidden_of(output).clone()
            h[rows, cols] = cache[layer][0, cols].to(h.dtype)
            return with_hidden(output, h)

        with layer_hooks(model, {layer: put}):
            grid.append(_diff(model(**forward_inputs(model, batch)).logits, good, bad))
    return PatchResult(layers, positions, torch.stack(grid), clean_diff, corrupted_diff)
