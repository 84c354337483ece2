"""Profiles: YAML files fixing datasets, models, recipes, scenarios, seeds and methods per scale.

A profile is ``smoke``, ``cpu`` or ``paper`` (shipped in ``unlearnbook/profiles/``) or the path of
a copy you edited. :func:`expand` turns one paper's section into notebook runs.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from ._checks import UnlearnbookError, check_choice

PAPERS = ("lfssd", "dau", "sure", "adaprob")
BUILTIN = ("smoke", "cpu", "paper")


@dataclass
class Run:
    """One notebook execution: a paper, a unique id and its notebook parameters."""

    paper: str
    run_id: str
    parameters: dict


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


def validate(params: dict) -> None:
    """Fail before anything runs on a bad dataset, scenario, architecture, recipe or method."""
    from . import methods
    from .data import DATASETS, SCENARIOS
    from .models import ARCHITECTURES
    from .pipeline import method_specs
    from .train import Recipe

    where = f"(run {params.get('run_id')!r})"
    try:
        check_choice("dataset", params.get("dataset"), DATASETS)
        check_choice("scenario", params.get("scenario"), SCENARIOS)
        check_choice("architecture", params.get("arch"), ARCHITECTURES)
        Recipe.from_dict(params["recipe"])
        for spec in method_specs(params.get("methods", []), params.get("method_hp")):
            check_choice("method", spec.name, methods.available())
            unknown = sorted(set(spec.hp) - set(methods.hyperparameters(spec.name)))
            if unknown:
                raise UnlearnbookError(f"unknown hyper-parameter(s) {unknown} for method "
                                       f"{spec.name!r}; allowed: "
                                       f"{sorted(methods.hyperparameters(spec.name))}")
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
    return [p for p in PAPERS if p in profile.get("papers", {})]


def expand(profile: dict, paper: str) -> list[Run]:
    """All runs of ``paper``: every entry of ``runs`` x its ``archs`` x ``seeds``.

    Each entry's keys override the paper's ``defaults`` (nested dicts such as ``method_hp`` are
    merged); ``archs`` name entries of the
    ``architectures`` table (model name, kwargs and training recipe).
    """
    check_choice("paper", paper, PAPERS)
    sections = profile.get("papers", {})
    if paper not in sections:
        raise UnlearnbookError(f"profile {profile['name']!r} has no section for paper {paper!r}; "
                               f"allowed: {', '.join(map(repr, papers_in(profile)))}")
    section = sections[paper]
    runs = []
    for entry in section["runs"]:
        entry = copy.deepcopy(entry)
        archs = entry.pop("archs", section["defaults"].get("archs", ["rn"]))
        seeds = entry.pop("seeds", section.get("seeds", [0]))
        for arch_key in archs:
            arch = section["architectures"][arch_key]
            for seed in seeds:
                params = merge(section["defaults"], entry)
                params.pop("archs", None)
                params.update(profile=profile["name"], paper=paper, seed=seed,
                              arch_key=arch_key, arch=arch["name"],
                              arch_kwargs=arch.get("kwargs", {}), recipe=arch["recipe"])
                params["run_id"] = f"{entry['id']}-{arch_key}-s{seed}"
                validate(params)
                runs.append(Run(paper, params["run_id"], params))
    ids = [r.run_id for r in runs]
    if len(ids) != len(set(ids)):
        raise UnlearnbookError(f"profile {profile['name']!r}, paper {paper!r}: run ids repeat")
    return runs
