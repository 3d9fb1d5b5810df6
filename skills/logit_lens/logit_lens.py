"""Logit lens: read each layer's residual stream through the model's own output head.

Layer i's output is passed through the final norm and the unembedding (what the model
does to its last layer), giving the tokens that layer "would predict" at a position.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from activations import extract
from hf_internals import decoder_layers, unembed, unwrap


@dataclass
class LensResult:
    """Per layer: the top-k token strings, their probabilities and token ids."""

    layers: list[int]
    tokens: list[list[str]]
    probs: torch.Tensor  # (n_layers, k)
    ids: torch.Tensor  # (n_layers, k)

    def __str__(self) -> str:
        rows = []
        for layer, toks, probs in zip(self.layers, self.tokens, self.probs.tolist()):
            cells = "  ".join(f"{t!r} {p:.2f}" for t, p in zip(toks, probs))
            rows.append(f"layer {layer:>3}: {cells}")
        return "\n".join(rows)


@torch.no_grad()
def lens_logits(model, tokenizer, prompt, layers=None, position: int = -1) -> torch.Tensor:
    """Logits (n_layers, vocab), float32 on CPU, from each layer's residual at ``position``.

    ``layers`` defaults to every decoder layer; ``position`` indexes the prompt's tokens.
    The last layer's row equals the model's own logits at that position.
    """
    layers = list(range(len(decoder_layers(model)))) if layers is None else list(layers)
    acts = extract(model, tokenizer, prompt, layers, positions=position, device=None)
    head_device = unwrap(model).get_output_embeddings().weight.device
    hidden = torch.stack([acts[layer].to(head_device) for layer in layers])
    return unembed(model, hidden).float().cpu()


def logit_lens(model, tokenizer, prompt, layers=None, position: int = -1, k: int = 5) -> LensResult:
    """Top-k next-token predictions of every layer (print the result for a table)."""
    layers = list(range(len(decoder_layers(model)))) if layers is None else list(layers)
    probs, ids = lens_logits(model, tokenizer, prompt, layers, position).softmax(-1).topk(k, dim=-1)
    tokens = [[tokenizer.decode([i]) for i in row] for row in ids.tolist()]
    return LensResult(layers, tokens, probs, ids)
