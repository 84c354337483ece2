import os

import pytest

os.environ.setdefault("UNLEARNBOOK_PROGRESS", "0")


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
