"""Profiles: YAML files fixing datasets, models, recipes, scenarios, seeds and methods per scale.

A profile is ``smoke``, ``cpu`` or ``paper`` (shipped in ``unlearnbook/profiles/``) or the path of
a copy you edited. :func:`expand` turns one paper's section into notebook runs.

The notebook's cell tagged ``parameters`` is the contract: every key a profile sets for a run must
be one of that cell's names, except the run's labels (:data:`LABELS`), which name the paper's
table a run belongs to and are added to its results by the runner.

Seeds: a section's ``seeds`` list gives one run per seed; ``seed_axes`` says which seed axes take
that seed (``train``: the original model, ``split``: which samples are forgotten, ``unlearn``:
the stochastic methods, ``oracle``: the retrained oracles, which otherwise take the original's
training seed); the others keep the values set in ``defaults`` (``train_seed``, ``split_seed``,
``unlearn_seed``: 0 when unset; ``oracle_seed``: only where the notebook has it).

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

from ._checks import UnlearnbookError, check_choice, check_int, check_safe_name
from .papers import names

BUILTIN = ("smoke", "cpu", "paper")
SEED_AXES = ("train", "split", "unlearn", "oracle")
#: Keys of a run that label it for the report and are not notebook parameters.
LABELS = ("group", "target")
#: Keys the runner itself sets on every run, not notebook parameters.
RUN_KEYS = ("profile", "paper", "run_id", "arch_key")
#: The keys a profile may have at its top level, in a paper's section, in an architecture and in
#: a run entry (besides the notebook's parameters and :data:`LABELS`).
PROFILE_KEYS = ("name", "description", "papers")
SECTION_KEYS = ("seeds", "seed_axes", "tutorial", "architectures", "defaults", "runs")
ARCH_KEYS = ("name", "kwargs", "recipe")
ENTRY_KEYS = ("id", "archs", "seeds", "by_arch", "headline")


@dataclass
class Run:
    """One notebook execution: a paper, a unique id, its notebook parameters and its labels;
    ``replicate``: the position of its seed in its entry's seed list (0 for the first seed);
    ``headline``: its entry tests one of the paper's headline claims (the grid runs those first)."""

    paper: str
    run_id: str
    parameters: dict
    labels: dict
    replicate: int = 0
    headline: bool = False

    @property
    def record(self) -> dict:
        """What the runner adds to the run's results: labels and parameters."""
        skip = ("output_dir", "progress")
        return {**self.labels, **{k: v for k, v in self.parameters.items() if k not in skip}}


def papers() -> list[str]:
    """The papers this package reports on (one report module each, :mod:`unlearnbook.papers`)."""
    return names()


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
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise UnlearnbookError(f"profile {str(profile)!r} is not valid YAML: "
                               f"{' '.join(str(err).split())}") from None
    if not isinstance(data, dict):
        raise UnlearnbookError(f"profile {str(profile)!r} is not a mapping; allowed: a YAML "
                               f"mapping with keys {', '.join(PROFILE_KEYS)}")
    data.setdefault("name", path.stem)
    check_keys(f"profile {str(profile)!r}", data, PROFILE_KEYS, required=("papers",))
    check_safe_name("profile name", data["name"])
    return data


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML's "last wins" would
    drop the first value silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def check_keys(where: str, mapping: object, allowed: tuple[str, ...] | list[str],
               required: tuple[str, ...] = ()) -> None:
    """Raise on a key of ``mapping`` that is not ``allowed`` or a ``required`` key it lacks
    (a typo such as ``seed:`` for ``seeds:`` would otherwise be ignored silently)."""
    if not isinstance(mapping, dict):
        raise UnlearnbookError(f"{where} is {mapping!r}; allowed: a mapping with keys "
                               f"{', '.join(allowed)}")
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise UnlearnbookError(f"unknown key(s) {unknown} in {where}; allowed: "
                               f"{', '.join(allowed)}")
    missing = [key for key in required if key not in mapping]
    if missing:
        raise UnlearnbookError(f"{where} lacks the key(s) {missing}; required: "
                               f"{', '.join(required)}")


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
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) \
                and not node.targets[0].id.startswith("_"):  # _declared: not a parameter
            names[node.targets[0].id] = ast.literal_eval(node.value)
    return names


#: Names IPython defines in every kernel (not notebook parameters).
KERNEL_NAMES = ("In", "Out", "get_ipython", "exit", "quit", "open")


def check_parameters(paper: str, namespace: dict) -> None:
    """The first cell after a paper notebook's parameters calls this with ``globals()``: a
    name papermill injected that the parameters cell did not define (``-p nosuch 1``) stops the
    run with one line naming it, instead of running on the defaults. The parameters cell ends
    by listing its own names in ``_declared`` (papermill injects its cell after that line)."""
    import inspect

    declared = set(namespace.get("_declared", ()))
    names = {name for name, value in namespace.items()
             if not name.startswith("_") and name not in KERNEL_NAMES
             and not (inspect.ismodule(value) or inspect.isroutine(value)
                      or inspect.isclass(value))}
    unknown = sorted(names - declared)
    if unknown:
        raise UnlearnbookError(f"unknown notebook parameter(s) {unknown} for {paper!r}; "
                               f"allowed: {', '.join(sorted(declared - set(KERNEL_NAMES)))}")


def check_forget_class(params: dict) -> None:
    """A run's ``forget_class`` must exist in its dataset (fine classes for ``subclass``; the
    first ``classes`` for a class subset), checked at planning, not inside the kernel."""
    from .data.sources import SHAPES

    value, dataset = params.get("forget_class"), params.get("dataset")
    if value is None or value == "random":
        return
    _, classes, fine = SHAPES[dataset]
    count = fine if params.get("scenario") == "subclass" else classes
    classes = params.get("classes")
    if classes is not None:
        count = classes if isinstance(classes, int) else len(classes)
    check_int(f"forget_class of a {dataset!r} run", value, 0, count - 1)


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
        check_task(params, allowed)
        check_forget_class(params)
        check_choice("architecture", params.get("arch"), ARCHITECTURES)
        recipe = Recipe.from_dict(params["recipe"])
        check_methods(params, allowed)
        for spec in method_specs(params.get("methods", allowed.get("methods")),
                                 params.get("method_hp")):
            check_choice("method", spec.name, methods.available())
            methods.check_hyperparameters(spec.name, spec.hp)
            methods.check_needs(spec.name, params.get("val_fraction", allowed.get("val_fraction")))
        sparse = any(params.get("sparsities") or [])
        if sparse and "rewind_epoch" in params:
            check_int("rewind_epoch", params["rewind_epoch"], 1, recipe.epochs)
        if params.get("select_epoch") is not None:
            from .epochs import SELECTIONS
            check_choice("select_epoch", params["select_epoch"], SELECTIONS)
    except UnlearnbookError as err:
        raise UnlearnbookError(f"{err} {where}") from None


def check_task(params: dict, allowed: dict) -> None:
    """The run's task arguments as ``make_task`` will check them, before any data is loaded:
    known ``task_kwargs`` names, values in range, and a forget set no larger than the training
    set (sized from the parameters alone)."""
    import inspect

    from .cost import sizes
    from .data.tasks import check_task_arguments, make_task

    task_kwargs = params.get("task_kwargs", allowed.get("task_kwargs")) or {}
    if not isinstance(task_kwargs, dict):
        raise UnlearnbookError(f"task_kwargs {task_kwargs!r} is not a mapping; allowed: a "
                               "mapping of make_task's keyword arguments")
    accepted = set(inspect.signature(make_task).parameters) - {
        "dataset", "scenario", "seed", "root", "download"}
    unknown = sorted(set(task_kwargs) - accepted)
    if unknown:
        raise UnlearnbookError(f"unknown task_kwargs {unknown}; allowed: {sorted(accepted)}")
    merged = {**{k: v for k, v in {**allowed, **params}.items() if k in accepted}, **task_kwargs}
    check_task_arguments(params["dataset"], params["scenario"], **merged)
    size = sizes({**allowed, **params})
    if merged.get("forget_size") and merged["forget_size"] > size.train:
        raise UnlearnbookError(f"forget_size {merged['forget_size']!r} is larger than the "
                               f"training set ({size.train:,} images); allowed: 1..{size.train}")


def check_methods(params: dict, allowed: dict) -> None:
    """``methods``: a non-empty list of names or mappings (``name``, optional ``label`` and
    ``hp``), or None (every registered method); ``method_hp``: a mapping from registered method
    names to mappings."""
    from . import methods

    listed = params.get("methods", allowed.get("methods"))
    if listed is not None and (not isinstance(listed, list) or not listed):
        raise UnlearnbookError(f"methods {listed!r} is not allowed; allowed: a non-empty list "
                               "of method names or {name, label, hp} mappings, or null (every "
                               "registered method)")
    for entry in listed or []:
        if isinstance(entry, dict):
            check_keys(f"method entry {entry!r}", entry, ("name", "label", "hp"),
                       required=("name",))
            if not isinstance(entry.get("hp", {}), dict):
                raise UnlearnbookError(f"the hp of method entry {entry!r} is not a mapping")
        elif not isinstance(entry, str):
            raise UnlearnbookError(f"method entry {entry!r} is not allowed; allowed: a method "
                                   "name or a {name, label, hp} mapping")
    method_hp = params.get("method_hp", allowed.get("method_hp")) or {}
    if not isinstance(method_hp, dict):
        raise UnlearnbookError(f"method_hp {method_hp!r} is not a mapping; allowed: method name "
                               "-> hyper-parameters")
    for name, hp in method_hp.items():
        check_choice("method named in method_hp", name, methods.available())
        if not isinstance(hp, dict):
            raise UnlearnbookError(f"method_hp of {name!r} is {hp!r}; allowed: a mapping of "
                                   "hyper-parameters")


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
    """The papers a profile has a section for, in the profile's order."""
    known = papers()
    return [p for p in profile.get("papers", {}) if p in known]


def check_architecture(arch: dict, where: str) -> None:
    """Fail on an unknown architecture or a keyword its constructor does not take."""
    import inspect

    from .models import ARCHITECTURES

    check_choice(f"model name of {where}", arch["name"], ARCHITECTURES)
    kwargs = arch.get("kwargs") or {}
    accepted = set(inspect.signature(ARCHITECTURES[arch["name"]]).parameters) - {
        "num_classes", "in_channels"}
    check_keys(f"the kwargs of {where}", kwargs, sorted(accepted))


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
    where = f"profile {profile['name']!r}, paper {paper!r}"
    check_keys(f"the section of {where}", section, SECTION_KEYS,
               required=("architectures", "runs"))
    allowed = notebook_parameters(paper)
    entry_keys = sorted(set(allowed) | set(LABELS) | set(ENTRY_KEYS))
    check_keys(f"the defaults of {where}", section.get("defaults", {}), entry_keys)
    for arch_key, arch in section["architectures"].items():
        check_safe_name(f"architecture key ({where})", arch_key)
        check_keys(f"architecture {arch_key!r} of {where}", arch, ARCH_KEYS, required=("name",))
        check_architecture(arch, f"architecture {arch_key!r} of {where}")
    axes = seed_axes(section)
    runs = []
    if not isinstance(section["runs"], list) or not section["runs"]:
        raise UnlearnbookError(f"the runs of {where} are {section['runs']!r}; allowed: a "
                               "non-empty list of run entries")
    for scope in [section.get("defaults", {})] + list(section["runs"]):
        check_keys(f"a run entry of {where}", scope, entry_keys,
                   required=("id",) if scope is not section.get("defaults", {}) else ())
        overwritten = sorted({"arch", "arch_kwargs"} & set(scope)) + sorted(
            f"{axis}_seed" for axis in axes if f"{axis}_seed" in scope)
        if overwritten:
            raise UnlearnbookError(f"{overwritten} in {where} ({scope.get('id', 'defaults')}) "
                                   "would be overwritten by the runner; allowed: 'archs' names "
                                   "the architectures, 'seeds' the seeds of the axes in "
                                   f"seed_axes {axes}")
    for entry in section["runs"]:
        entry = copy.deepcopy(entry)
        archs = entry.pop("archs", section.get("defaults", {}).get("archs", ["rn"]))
        seeds = entry.pop("seeds", section.get("seeds", [0]))
        entry_id = check_safe_name(f"run id ({where})", entry.pop("id"))
        by_arch = entry.pop("by_arch", {})
        headline = entry.pop("headline", section.get("defaults", {}).get("headline", False))
        if not isinstance(headline, bool):
            raise UnlearnbookError(f"headline {headline!r} of run {entry_id!r} ({where}) is not "
                                   "allowed; allowed: true or false")
        for key in by_arch:
            check_choice(f"by_arch architecture (run {entry_id!r})", key, archs)
        for seed in seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise UnlearnbookError(f"seed {seed!r} of run {entry_id!r} ({where}) is not "
                                       "allowed; allowed: integers >= 0")
        for arch_key in archs:
            check_choice(f"architecture of run {entry_id!r} ({where})", arch_key,
                         list(section["architectures"]))
            arch = section["architectures"][arch_key]
            for replicate, seed in enumerate(seeds):
                params = merge(merge(section.get("defaults", {}), entry),
                               by_arch.get(arch_key, {}))
                params.pop("archs", None)
                params.pop("headline", None)
                labels = {key: params.pop(key) for key in LABELS if key in params}
                run_id = f"{entry_id}-{arch_key}-s{seed}"
                labels.update(profile=profile["name"], paper=paper, run_id=run_id,
                              arch_key=arch_key)
                params.update(arch=arch["name"], arch_kwargs=arch.get("kwargs", {}),
                              recipe=params.get("recipe") or arch.get("recipe"), progress=False)
                for axis in SEED_AXES:  # every run states its seeds
                    if axis in axes:
                        params[f"{axis}_seed"] = seed
                    elif axis != "oracle":  # unset: the original's training seed
                        params.setdefault(f"{axis}_seed", 0)
                validate(params, allowed, f"(run {run_id!r})")
                runs.append(Run(paper, run_id, params, labels, replicate, headline))
    ids = [r.run_id for r in runs]
    if len(ids) != len(set(ids)):
        raise UnlearnbookError(f"profile {profile['name']!r}, paper {paper!r}: run ids repeat")
    if section.get("tutorial") is not None:
        check_choice(f"tutorial run of {where}", section["tutorial"], ids)
    return runs


def tutorial_run(profile: dict, paper: str) -> str:
    """The run whose executed notebook becomes the paper's tutorial page: the section's
    ``tutorial`` run id (the paper's headline scenario), else its first run."""
    runs = expand(profile, paper)
    wanted = profile["papers"][paper].get("tutorial") or runs[0].run_id
    check_choice(f"tutorial run of {paper!r}", wanted, [r.run_id for r in runs])
    return wanted
