import os
from pathlib import Path

import pytest

os.environ.setdefault("UNLEARNBOOK_PROGRESS", "0")
# Under pytest-xdist each worker gets its share of the cores (torch, and the notebook kernels and
# grid jobs it starts, read OMP_NUM_THREADS), so that workers do not oversubscribe the machine.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    from unlearnbook.runner import threads_per_job  # no torch: safe before OMP_NUM_THREADS is set

    os.environ.setdefault("OMP_NUM_THREADS",
                          str(threads_per_job(int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))


@pytest.fixture(scope="session")
def session_folder(tmp_path_factory):
    """``session_folder(name)``: a folder of this test session's that every xdist worker shares
    (under xdist each worker's base folder sits in the session's), for work done once per
    session (with a file lock where workers may race)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base

    def folder(name: str) -> Path:
        (root / name).mkdir(exist_ok=True)
        return root / name
    return folder


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test session trains into its own checkpoint cache."""
    monkeypatch.setenv("UNLEARNBOOK_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def digits_class_task():
    import unlearnbook as ub
    return ub.data.make_task("digits", scenario="class", forget_class=3, seed=0)


@pytest.fixture(scope="session")
def digits_original(digits_class_task, tmp_path_factory):
    import unlearnbook as ub
    os.environ["UNLEARNBOOK_CACHE"] = str(tmp_path_factory.getbasetemp() / "cache")
    task = digits_class_task
    model = ub.models.build("smallcnn", task.num_classes, task.in_channels, seed=0)
    recipe = ub.train.Recipe(epochs=12, lr=0.05, batch_size=64, schedule="cosine")
    return ub.train.fit(model, task.train, recipe, seed=0)


#: Shorter settings for methods whose defaults are sized for CIFAR (speed only). Every other
#: registered method runs with its defaults, so a new method is covered without editing tests.
FAST_HP = {"finetune": dict(epochs=1), "amnesiac": dict(epochs=1), "lfssd": dict(alpha=3.0),
           "ft": dict(epochs=1), "iu": dict(samples=20),
           "ntk": dict(retain_samples=40), "neggrad_plus": dict(epochs=2),
           "dau": dict(batch_size=64, epochs=0.2, min_iterations=2, pretrain_iterations=5),
           **{name: dict(epochs=2) for name in ("sure", "l1sparse", "rl", "be_plus", "bs_plus",
                                                "badteacher_paired", "cfk", "euk")}}


@pytest.fixture(scope="session")
def fast_hp():
    """``fast_hp(name)``: the hyper-parameters the tests run method ``name`` with."""
    return lambda name: FAST_HP.get(name, {})
