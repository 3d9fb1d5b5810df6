"""Run the toolkit once on a GPU (not part of the CPU pytest suite).

Usage, from the repository root on a machine with CUDA:  python3 skills/tests/gpu_smoke.py
Checks device handling (inputs moved to the model, results back on CPU) and the exact
identities of the CPU tests at bf16 tolerance, with whatever torch/transformers it finds.
"""
import pathlib
import sys

import torch

SKILLS = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(SKILLS / "tests")] + [str(p) for p in SKILLS.iterdir() if (p / "SKILL.md").exists()]

import transformers  # noqa: E402
from activation_patching import patch  # noqa: E402
from activations import extract  # noqa: E402
from batch_generation import generate  # noqa: E402
from logit_lens import lens_logits  # noqa: E402
from steering import contrastive_vector, steer  # noqa: E402
from tiny import PROMPTS, make_gpt2, make_llama, make_tokenizer  # noqa: E402


def check(make, dtype):
    tok = make_tokenizer()
    model = make().to("cuda", dtype)
    tol = dict(atol=5e-2, rtol=5e-2) if dtype == torch.bfloat16 else dict(atol=1e-4, rtol=1e-4)
    acts = extract(model, tok, PROMPTS, layers=[0, -1], positions=[0, -1])
    assert acts[0].device.type == "cpu" and acts[0].dtype == dtype
    tok.padding_side = "left"
    left = extract(model, tok, PROMPTS, layers=-1)
    tok.padding_side = "right"
    for n, p in enumerate(PROMPTS):
        torch.testing.assert_close(left[n], extract(model, tok, p, layers=-1), **tol)
    vec = contrastive_vector(model, tok, PROMPTS[:2], PROMPTS[2:], layer=1)
    ids = tok(PROMPTS[0], return_tensors="pt").to("cuda")
    with torch.no_grad():
        plain = model(**ids).logits
    with steer(model, 1, vec, scale=0.0), torch.no_grad():
        assert torch.equal(model(**ids).logits, plain)
    with steer(model, 1, vec * 10, start_pos=1):
        steered = generate(model, tok, PROMPTS, max_new_tokens=5)
    greedy = generate(model, tok, PROMPTS, max_new_tokens=5)
    assert len(steered) == len(greedy) == len(PROMPTS)
    lens = lens_logits(model, tok, PROMPTS[2])
    torch.testing.assert_close(lens[-1], model(**tok(PROMPTS[2], return_tensors="pt").to("cuda")).logits[0, -1].float().cpu(), **tol)
    r = patch(model, tok, "the cat sat on the mat", "the dog sat on the mat", "rome", "city")
    assert abs(r.logit_diff[-1, -1].item() - r.clean_diff) < 0.1
    print(f"{type(model).__name__} {dtype}: ok; greedy={greedy[0]!r} steered={steered[0]!r}")


if __name__ == "__main__":
    print("torch", torch.__version__, "transformers", transformers.__version__, torch.cuda.get_device_name())
    for make in (make_llama, make_gpt2):
        for dtype in (torch.float32, torch.bfloat16):
            check(make, dtype)
    print("gpu smoke: ok")
