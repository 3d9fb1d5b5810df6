"""Pytest fixtures: each skill directory on sys.path (as the sandbox mounts skills),
and the tiny models of tiny.py, one Llama and one GPT-2 per session."""
import pathlib
import sys

import pytest
import torch

# Two cores shared with other jobs: one thread per test process avoids oversubscription.
torch.set_num_threads(1)

SKILLS = pathlib.Path(__file__).resolve().parent.parent
for skill in sorted(SKILLS.iterdir()):
    if (skill / "SKILL.md").exists():
        sys.path.insert(0, str(skill))

from tiny import PROMPTS, make_gpt2, make_llama, make_tokenizer  # noqa: E402  (re-exported for tests)


@pytest.fixture(scope="session")
def tokenizer():
    return make_tokenizer()


@pytest.fixture(scope="session", params=["llama", "gpt2"])
def model(request):
    return {"llama": make_llama, "gpt2": make_gpt2}[request.param]()
