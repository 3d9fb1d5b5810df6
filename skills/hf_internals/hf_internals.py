"""Find the parts of a Hugging Face decoder model that interpretability code needs.

Every other toolkit skill goes through this module, so supporting a new architecture
means teaching it here once: where the decoder layers are, the final norm, the
unembedding, and how a layer's output carries its hidden state.
"""
from __future__ import annotations

import contextlib
import inspect
from typing import Callable, Iterator

import torch
from torch import nn

# Attribute paths of the decoder-layer list, most common first.
_LAYER_PATHS = (
    "model.layers",  # Llama, Mistral, Qwen, Gemma, Phi-3
    "model.language_model.layers",  # Gemma 3, Llava-style multimodal wrappers
    "transformer.h",  # GPT-2, GPT-J, Falcon, Bloom
    "gpt_neox.layers",  # Pythia, GPT-NeoX
    "model.decoder.layers",  # OPT
    "transformer.blocks",  # MPT
    "transformer.layers",
)
_NORM_PATHS = (
    "model.norm",
    "model.language_model.norm",
    "transformer.ln_f",
    "gpt_neox.final_layer_norm",
    "model.decoder.final_layer_norm",
    "transformer.norm_f",
)


def _get_path(obj: object, path: str):
    for name in path.split("."):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def unwrap(model: nn.Module) -> nn.Module:
    """Strip a PEFT wrapper (PeftModel has get_base_model) so the paths above apply."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """Return the model's list of decoder layers (transformer blocks)."""
    model = unwrap(model)
    for path in _LAYER_PATHS:
        layers = _get_path(model, path)
        if isinstance(layers, nn.ModuleList):
            return layers
    # Unknown architecture: the decoder stack is the ModuleList with num_hidden_layers entries.
    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    candidates = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == n]
    if len(candidates) == 1:
        return candidates[0]
    raise ValueError(f"cannot find the decoder layers of {type(model).__name__}")


def final_norm(model: nn.Module) -> nn.Module:
    """Return the norm applied to the last layer's output before the unembedding."""
    model = unwrap(model)
    for path in _NORM_PATHS:
        norm = _get_path(model, path)
        if isinstance(norm, nn.Module):
            return norm
    raise ValueError(f"cannot find the final norm of {type(model).__name__}")


def unembed(model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """Map residual-stream vectors to logits exactly as the model's head does.

    Applies the final norm, the output embedding, and Gemma-2-style final logit
    soft-capping when the config asks for it.
    """
    model = unwrap(model)
    logits = model.get_output_embeddings()(final_norm(model)(hidden))
    cap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def resolve_layer(model: nn.Module, layer: int) -> int:
    """Turn a possibly negative layer index into a checked non-negative one."""
    n = len(decoder_layers(model))
    if not -n <= layer < n:
        raise IndexError(f"layer {layer} out of range for a model with {n} layers")
    return layer % n


def hidden_of(output):
    """The hidden-state tensor inside a decoder layer's output (a tensor or a tuple)."""
    return output[0] if isinstance(output, tuple) else output


def with_hidden(output, hidden: torch.Tensor):
    """A decoder layer's output with its hidden state replaced, same structure as before."""
    return (hidden,) + tuple(output[1:]) if isinstance(output, tuple) else hidden


@contextlib.contextmanager
def layer_hooks(model: nn.Module, hooks: dict[int, Callable]) -> Iterator[None]:
    """Register forward hooks on decoder layers for the duration of a with-block.

    ``hooks`` maps a layer index to ``fn(module, args, output)``; returning a value
    replaces the layer's output. The hooks are removed however the block exits,
    exceptions and KeyboardInterrupt included.
    """
    layers = decoder_layers(model)
    handles = []
    try:
        for layer, fn in hooks.items():
            handles.append(layers[resolve_layer(model, layer)].register_forward_hook(fn))
        yield
    finally:
        for handle in handles:
            handle.remove()


def model_device(model: nn.Module) -> torch.device:
    """Device of the input embeddings, where input ids must go (works with device_map)."""
    return unwrap(model).get_input_embeddings().weight.device


@contextlib.contextmanager
def padding(tokenizer, side: str | None = None) -> Iterator[None]:
    """Temporarily set the padding side and, if missing, a pad token (EOS, else UNK).

    The tokenizer is restored afterwards, so the caller's settings are not changed
    behind their back.
    """
    old_side, old_pad = tokenizer.padding_side, tokenizer.pad_token
    try:
        if side is not None:
            tokenizer.padding_side = side
        if tokenizer.pad_token is None:
            fallback = tokenizer.eos_token or tokenizer.unk_token
            if fallback is None:
                raise ValueError("tokenizer has no pad, eos or unk token to pad with")
            tokenizer.pad_token = fallback
        yield
    finally:
        tokenizer.padding_side = old_side
        if old_pad is None:
            tokenizer.pad_token = None


def encode(tokenizer, prompts, device=None) -> dict[str, torch.Tensor]:
    """Tokenize and pad a batch on the tokenizer's current padding side.

    Strings get the tokenizer's special tokens (e.g. BOS); chat message lists go through
    the chat template, which writes its own, so they are not added twice. A conversation
    ending with an assistant message is a prefill: the model continues that message.
    """
    ids = []
    for p in prompts:
        if isinstance(p, str):
            ids.append(tokenizer(p)["input_ids"])
        else:
            prefill = p[-1]["role"] == "assistant"
            text = tokenizer.apply_chat_template(
                p, tokenize=False, add_generation_prompt=not prefill, continue_final_message=prefill
            )
            ids.append(tokenizer(text, add_special_tokens=False)["input_ids"])
    batch = tokenizer.pad({"input_ids": ids}, return_tensors="pt")
    return {k: v.to(device) if device is not None else v for k, v in batch.items()}


def forward_inputs(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Add padding-aware position ids (as ``generate`` does) when the model takes them.

    Without them a left-padded row's real tokens would sit at shifted positions, which
    changes the output of models with absolute position embeddings such as GPT-2.
    """
    if "position_ids" not in inspect.signature(unwrap(model).forward).parameters:
        return batch
    positions = (batch["attention_mask"].long().cumsum(-1) - 1).clamp(min=0)
    return {**batch, "position_ids": positions}
