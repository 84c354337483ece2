"""Profiles: YAML files fixing datasets, models, recipes, scenarios, seeds and methods per scale.

A profile is ``smoke``, ``cpu`` or ``paper`` (shipped in ``unlearnbook/profiles/``) or the path of
a copy you edited. :func:`expand` turns one paper's section into notebook runs.

The notebook's cell tagged ``parameters`` is the contract: every key a profile sets for a run must
be one of that cell's names, except the run's labels (:data:`LABELS`), which name the paper's
table a run belongs to and are added to its results by the runner.

Seeds: a section's ``seeds`` list gives one run per seed; ``seed_axes`` says which of the three
seed axes take that seed (``train``: the original model, ``split``: which samples are forgotten,
``unlearn``: the stochastic methods); the others keep the values set in ``defaults``
(``train_seed``, ``split_seed``, ``unlearn_seed``; 0 when unset).

Architectures: a run entry's ``archs`` list gives one run per architecture; its ``by_arch``
mapping (architecture key -> entry keys) overrides keys for one architecture only, merged key
by key, e.g. ``by_arch: {ac: {method_hp: {scrub: {lr: 0.02}}}}`` for a protocol whose
hyper-parameters differ per architecture.
"""
from __future__ import annotations

import ast
import copy
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from ._checks import UnlearnbookError, check_choice

BUILTIN = ("smoke", "cpu", "paper")
SEED_AXES = ("train", "split", "unlearn")
#: Keys of a run that label it for the report and are not notebook parameters.
LABELS = ("group", "target")
#: Keys the runner itself sets on every run, not notebook parameters.
RUN_KEYS = ("profile", "paper", "run_id", "arch_key")


@dataclass
class Run:
    """One notebook execution: a paper, a unique id, its notebook parameters and its labels;
    ``replicate``: the position of its seed in its entry's seed list (0 for the first seed)."""

    paper: str
    run_id: str
    parameters: dict
    labels: dict
    replicate: int = 0

    @property
    def record(self) -> dict:
        """What the runner adds to the run's results: labels and parameters."""
        skip = ("output_dir", "progress")
        return {**self.labels, **{k: v for k, v in self.parameters.items() if k not in skip}}


def papers() -> list[str]:
    """The papers this package reports on (one report module each)."""
    from .report import papers as reported_papers
    return reported_papers()


def load(profile: str | os.PathLike) -> dict:
    """Load a built-in profile by name or a profile file by path."""
    path = Path(profile)
    if path.suffix in (".yaml", ".yml"):
        if not path.exists():
            raise UnlearnbookError(f"profile file {str(path)!r} does not exist; allowed: an "
                                   f"existing .yaml file or one of {', '.join(BUILTIN)}")
        text = path.read_text()
    else:
        check_choice("profile", str(profile), BUILTIN)
        text = resources.files("unlearnbook").joinpath(f"profiles/{profile}.yaml").read_text()
    data = yaml.safe_load(text)
    data.setdefault("name", path.stem)
    return data


def notebook_path(paper: str) -> Path:
    """The paper's notebook: ``$UNLEARNBOOK_NOTEBOOKS/<paper>.ipynb`` or ``notebooks/``."""
    return Path(os.environ.get("UNLEARNBOOK_NOTEBOOKS", "notebooks")) / f"{paper}.ipynb"


def notebook_parameters(paper: str) -> dict[str, object]:
    """Names and default values assigned in the notebook's cell tagged ``parameters``."""
    path = notebook_path(paper)
    if not path.exists():
        raise UnlearnbookError(f"no notebook for paper {paper!r} at {str(path)!r}; allowed: a "
                               "notebooks/<paper>.ipynb with a cell tagged 'parameters'")
    cells = json.loads(path.read_text())["cells"]
    source = next(("".join(c["source"]) for c in cells
                   if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if source is None:
        raise UnlearnbookError(f"notebook {str(path)!r} has no cell tagged 'parameters'")
    names = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            names[node.targets[0].id] = ast.literal_eval(node.value)
    return names


def validate(params: dict, allowed: dict[str, object], where: str) -> None:
    """Fail before anything runs on an unknown parameter, dataset, scenario, architecture,
    recipe, method, method hyper-parameter, or a method whose needs the task cannot meet."""
    from . import methods
    from .data import DATASETS, SCENARIOS
    from .models import ARCHITECTURES
    from .pipeline import method_specs
    from .train import Recipe

    try:
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise UnlearnbookError(f"unknown run parameter(s) {unknown}; allowed: the "
                                   f"notebook's parameters {sorted(allowed)} and the labels "
                                   f"{list(LABELS)}")
        check_choice("dataset", params.get("dataset"), DATASETS)
        check_choice("scenario", params.get("scenario"), SCENARIOS)
        check_choice("architecture", params.get("arch"), ARCHITECTURES)
        Recipe.from_dict(params["recipe"])
        for spec in method_specs(params.get("methods", []), params.get("method_hp")):
            check_choice("method", spec.name, methods.available())
            methods.check_hyperparameters(spec.name, spec.hp)
            methods.check_needs(spec.name, params.get("val_fraction", allowed.get("val_fraction")))
    except UnlearnbookError as err:
        raise UnlearnbookError(f"{err} {where}") from None


def merge(base: dict, override: dict) -> dict:
    """Recursive dict merge: ``override`` wins, nested dicts are merged key by key."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def papers_in(profile: dict) -> list[str]:
    """The papers a profile has a section for, in the order of :func:`papers`."""
    return [p for p in papers() if p in profile.get("papers", {})]


def seed_axes(section: dict) -> list[str]:
    """The seed axes a profile section varies (default: split and unlearn)."""
    axes = section.get("seed_axes", ["split", "unlearn"])
    for axis in axes:
        check_choice("seed axis", axis, SEED_AXES)
    return list(axes)


def expand(profile: dict, paper: str) -> list[Run]:
    """All runs of ``paper``: every entry of ``runs`` x its ``archs`` x ``seeds``.

    Each entry's keys override the paper's ``defaults`` (nested dicts such as ``method_hp`` are
    merged); ``archs`` name entries of the ``architectures`` table (model name, kwargs and
    training recipe; a run's own ``recipe`` wins, as the SCRUB protocol trains one architecture
    with a per-setting recipe). Every run is validated against the paper's notebook parameters.
    """
    check_choice("paper", paper, papers())
    sections = profile.get("papers", {})
    if paper not in sections:
        raise UnlearnbookError(f"profile {profile['name']!r} has no section for paper {paper!r}; "
                               f"allowed: {', '.join(map(repr, papers_in(profile)))}")
    section = sections[paper]
    allowed = notebook_parameters(paper)
    axes = seed_axes(section)
    runs = []
    for entry in section["runs"]:
        entry = copy.deepcopy(entry)
        archs = entry.pop("archs", section["defaults"].get("archs", ["rn"]))
        seeds = entry.pop("seeds", section.get("seeds", [0]))
        entry_id = entry.pop("id")
        by_arch = entry.pop("by_arch", {})
        for key in by_arch:
            check_choice(f"by_arch architecture (run {entry_id!r})", key, archs)
        for arch_key in archs:
            arch = section["architectures"][arch_key]
            for replicate, seed in enumerate(seeds):
                params = merge(merge(section["defaults"], entry), by_arch.get(arch_key, {}))
                params.pop("archs", None)
                labels = {key: params.pop(key) for key in LABELS if key in params}
                run_id = f"{entry_id}-{arch_key}-s{seed}"
                labels.update(profile=profile["name"], paper=paper, run_id=run_id,
                              arch_key=arch_key)
                params.update(arch=arch["name"], arch_kwargs=arch.get("kwargs", {}),
                              recipe=params.get("recipe") or arch.get("recipe"), progress=False)
                for axis in SEED_AXES:  # every run states all three seeds
                    params[f"{axis}_seed"] = seed if axis in axes else params.get(
                        f"{axis}_seed", 0)
                validate(params, allowed, f"(run {run_id!r})")
                runs.append(Run(paper, run_id, params, labels, replicate))
    ids = [r.run_id for r in runs]
    if len(ids) != len(set(ids)):
        raise UnlearnbookError(f"profile {profile['name']!r}, paper {paper!r}: run ids repeat")
    return runs


def tutorial_run(profile: dict, paper: str) -> str:
    """The run whose executed notebook becomes the paper's tutorial page: the section's
    ``tutorial`` run id (the paper's headline scenario), else its first run."""
    runs = expand(profile, paper)
    wanted = profile["papers"][paper].get("tutorial", runs[0].run_id)
    check_choice(f"tutorial run of {paper!r}", wanted, [r.run_id for r in runs])
    return wanted
