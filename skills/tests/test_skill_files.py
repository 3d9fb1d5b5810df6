"""Every skill directory is listable by the workspace: front matter, docs, importable code."""
import ast
import importlib
import pathlib

import pytest
import yaml

SKILLS = pathlib.Path(__file__).resolve().parent.parent
SKILL_DIRS = sorted(p for p in SKILLS.iterdir() if (p / "SKILL.md").exists())
MODULES = {"hf_internals", "activations", "steering", "batch_generation", "logit_lens", "activation_patching"}


def front_matter(path):
    text = path.read_text()
    assert text.startswith("---\n"), f"{path} must open with YAML front matter"
    meta, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(meta), body


def test_all_toolkit_skills_present():
    assert {p.name for p in SKILL_DIRS} == MODULES


@pytest.mark.parametrize("skill", SKILL_DIRS, ids=lambda p: p.name)
def test_skill_has_front_matter_docs_and_module(skill):
    meta, body = front_matter(skill / "SKILL.md")
    assert set(meta) <= {"name", "description", "requires"}
    assert meta["name"] == skill.name  # sena mounts and resolves skills by directory name
    assert 40 < len(meta["description"]) < 400
    assert "```python" in body  # a usage example
    module = importlib.import_module(skill.name)  # conftest put the skill dir on sys.path
    assert pathlib.Path(module.__file__).parent == skill
    assert module.__doc__


@pytest.mark.parametrize("skill", SKILL_DIRS, ids=lambda p: p.name)
def test_requires_lists_exactly_the_skills_imported(skill):
    meta, _ = front_matter(skill / "SKILL.md")
    tree = ast.parse((skill / f"{skill.name}.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert set(meta.get("requires") or []) == imported & MODULES
