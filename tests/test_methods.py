from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import unlearnbook as ub
from unlearnbook import UnlearnbookError
from unlearnbook.methods.dampening import cross_entropy, importance, output_sq_norm


def _toy_task():
    """Forget samples live mostly on input dim 0, the rest of D on dims 1 and 2."""
    gen = torch.Generator().manual_seed(0)
    retain_x = torch.randn(12, 3, generator=gen) * torch.tensor([0.05, 1.0, 1.0])
    forget_x = torch.randn(4, 3, generator=gen) * torch.tensor([1.0, 0.05, 0.05])
    x = torch.cat([retain_x, forget_x])
    y = torch.randint(0, 2, (16,), generator=gen)
    return SimpleNamespace(train=TensorDataset(x, y), forget=TensorDataset(forget_x, y[12:]))


def _toy_model():
    torch.manual_seed(0)
    return nn.Linear(3, 2, bias=False)


def test_lfssd_importance_matches_eq3():
    task, model = _toy_task(), _toy_model()
    x, _ = task.train.tensors
    w = model.weight.detach()
    expected = torch.stack([(2 * (w @ xk)[:, None] * xk[None, :]).abs() for xk in x]).mean(0)
    got = importance(model, task.train, output_sq_norm, "abs", "per_sample", batch_size=5)
    assert torch.allclose(got["weight"], expected, atol=1e-6)


def test_lfssd_per_sample_independent_of_batching():
    task, model = _toy_task(), _toy_model()
    x, y = task.train.tensors
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(1))
    shuffled = TensorDataset(x[perm], y[perm])
    a = importance(model, task.train, output_sq_norm, "abs", "per_sample", batch_size=3)
    b = importance(model, shuffled, output_sq_norm, "abs", "per_sample", batch_size=7)
    assert torch.allclose(a["weight"], b["weight"], atol=1e-6)
    c = importance(model, task.train, output_sq_norm, "abs", "batch_mean", batch_size=3)
    d = importance(model, shuffled, output_sq_norm, "abs", "batch_mean", batch_size=7)
    assert not torch.allclose(c["weight"], d["weight"])  # the reference variant depends on it


def test_ssd_batch_mean_fisher_matches_direct():
    task, model = _toy_task(), _toy_model()
    x, y = task.train.tensors
    w = model.weight.detach()
    grads = []
    for start in range(0, 16, 8):
        xb, yb = x[start:start + 8], y[start:start + 8]
        p = torch.softmax(xb @ w.T, dim=1)
        grads.append(((p - nn.functional.one_hot(yb, 2)).T @ xb / len(yb)) ** 2)
    expected = torch.stack(grads).mean(0)
    got = importance(model, task.train, cross_entropy, "square", "batch_mean", batch_size=8)
    assert torch.allclose(got["weight"], expected, atol=1e-6)


@pytest.mark.parametrize("method,objective,stat,mode", [
    ("lfssd", output_sq_norm, "abs", "per_sample"),
    ("ssd", cross_entropy, "square", "batch_mean"),
])
def test_dampening_rule(method, objective, stat, mode):
    task, model = _toy_task(), _toy_model()
    imp_d = importance(model, task.train, objective, stat, mode, 64)["weight"]
    imp_f = importance(model, task.forget, objective, stat, mode, 64)["weight"]
    alpha, lam = 1.5, 0.5
    selected = imp_f > alpha * imp_d
    assert 0 < selected.sum() < selected.numel()  # the toy case selects some, not all
    beta = torch.minimum(lam * imp_d / imp_f, torch.ones(()))
    expected = torch.where(selected, model.weight.detach() * beta, model.weight.detach())
    out = ub.methods.unlearn(method, model, task, alpha=alpha, lam=lam, importance_mode=mode)
    assert torch.allclose(out.weight, expected, atol=1e-6)
    # alpha = infinity changes nothing; alpha = 0 with huge lambda selects but does not scale
    same = ub.methods.unlearn(method, model, task, alpha=float("inf"), importance_mode=mode)
    assert torch.equal(same.weight, model.weight)
    clamp = ub.methods.unlearn(method, model, task, alpha=0.0, lam=1e9, importance_mode=mode)
    assert torch.equal(clamp.weight, model.weight)


def test_every_method_leaves_input_unchanged(digits_class_task, digits_original, fast_hp):
    before = {k: v.clone() for k, v in digits_original.state_dict().items()}
    for name in ub.methods.available():
        out = ub.methods.unlearn(name, digits_original, digits_class_task, **fast_hp(name))
        assert out is not digits_original
        assert out.unlearn_seconds >= 0
        for k, v in digits_original.state_dict().items():
            assert torch.equal(v, before[k]), (name, k)


def test_lfssd_and_ssd_forget_a_digit(digits_class_task, digits_original):
    task = digits_class_task
    base = ub.metrics.evaluate(digits_original, task)
    assert base["Df"] > 90
    for name, hp in (("lfssd", dict(alpha=3.0)), ("ssd", dict(alpha=5.0, importance_mode="per_sample"))):
        scores = ub.metrics.evaluate(ub.methods.unlearn(name, digits_original, task, **hp), task)
        assert scores["Df"] < 10, name
        assert scores["Dr"] > base["Dr"] - 5, name


def test_amnesiac_labels_avoid_forgotten_class(digits_class_task):
    from unlearnbook.methods.amnesiac import random_wrong_labels
    labels = random_wrong_labels(digits_class_task, torch.Generator().manual_seed(0))
    assert not (labels == 3).any() and labels.min() >= 0 and labels.max() <= 9


def test_bad_method_inputs(digits_class_task, digits_original):
    with pytest.raises(UnlearnbookError, match="unknown method 'scrubz'"):
        ub.methods.unlearn("scrubz", digits_original, digits_class_task)
    with pytest.raises(UnlearnbookError, match="unknown hyper-parameter.*'alhpa'"):
        ub.methods.unlearn("lfssd", digits_original, digits_class_task, alhpa=1.0)
    with pytest.raises(UnlearnbookError, match="unknown importance mode 'exact'"):
        ub.methods.unlearn("lfssd", digits_original, digits_class_task, importance_mode="exact")
    with pytest.raises(UnlearnbookError, match="unknown metric suite 'nope'"):
        ub.metrics.evaluate(digits_original, digits_class_task, suite="nope")


def _forget_loss(model, task):
    logits, labels = ub.metrics.predict(model, task.forget)
    return nn.functional.cross_entropy(logits, labels).item()


def test_gradient_ascent_raises_forget_loss(digits_class_task, digits_original):
    out = ub.methods.unlearn("ga", digits_original, digits_class_task, lr=1e-3, epochs=3)
    assert _forget_loss(out, digits_class_task) > _forget_loss(digits_original, digits_class_task)


def test_fisher_forgetting_noise_and_class_reset(digits_class_task, digits_original):
    silent = ub.methods.unlearn("ff", digits_original, digits_class_task, alpha=0.0)
    head, ref = silent.head, digits_original.head
    assert torch.equal(head.weight[:3], ref.weight[:3])  # alpha = 0: no noise anywhere ...
    assert torch.equal(silent.body[0].weight, digits_original.body[0].weight)
    row = head.weight[3]                                  # ... but the forgotten class's row is
    assert row.abs().mean() < 0.1 and not torch.equal(row, ref.weight[3])  # reset near 0
    noisy = ub.methods.unlearn("ff", digits_original, digits_class_task, alpha=1e-6)
    assert not torch.equal(noisy.body[0].weight, digits_original.body[0].weight)


def test_influence_pieces(digits_class_task, digits_original):
    from unlearnbook.methods.influence import per_sample_gradients, summed_gradient
    small = digits_class_task.forget.subset(np.arange(5))
    total = summed_gradient(digits_original, small)
    rows = torch.stack(list(per_sample_gradients(digits_original, small, 5)))
    assert torch.allclose(total, rows.sum(0), atol=1e-4)
    still = ub.methods.unlearn("iu", digits_original, digits_class_task, alpha=0.0, samples=10)
    for a, b in zip(still.parameters(), digits_original.parameters()):
        assert torch.equal(a, b)
    one = ub.methods.unlearn("iu", digits_original, digits_class_task, alpha=1.0, samples=10)
    two = ub.methods.unlearn("iu", digits_original, digits_class_task, alpha=2.0, samples=10)
    assert two.unlearn_info["update_norm"] == pytest.approx(2 * one.unlearn_info["update_norm"])


def test_bad_teacher_moves_forget_outputs_to_the_incompetent_teacher(digits_class_task,
                                                                    digits_original):
    from unlearnbook.models import rebuild
    bad = rebuild(digits_original, seed=0).eval()

    def kl_to_bad(model):
        logits, _ = ub.metrics.predict(model, digits_class_task.forget)
        target = torch.softmax(ub.metrics.predict(bad, digits_class_task.forget)[0], 1)
        return nn.functional.kl_div(torch.log_softmax(logits, 1), target,
                                    reduction="batchmean").item()
    out = ub.methods.unlearn("badteacher", digits_original, digits_class_task, epochs=5, seed=0)
    assert kl_to_bad(out) < kl_to_bad(digits_original)


def test_cached_retrain_reports_its_training_time(digits_class_task, digits_original):
    first = ub.methods.unlearn("retrain", digits_original, digits_class_task)
    again = ub.methods.unlearn("retrain", digits_original, digits_class_task)
    assert again.unlearn_info["cached"]
    assert again.unlearn_seconds == pytest.approx(first.fit_info.seconds)
    assert again.unlearn_seconds > 0.1


def test_registry_metadata_and_discovery():
    import pkgutil
    import sys

    modules = {m.name for m in pkgutil.iter_modules(ub.methods.__path__)}
    assert all(f"unlearnbook.methods.{m}" in sys.modules for m in modules)  # discovered
    defined_in = {getattr(ub.methods.info(name).fn, "func", ub.methods.info(name).fn)
                  .__module__.rsplit(".", 1)[1]
                  for name in ub.methods.available()}
    assert defined_in <= modules and {"lfssd", "dau", "ssd"} <= defined_in
    assert ub.methods.info("lfssd").deterministic and not ub.methods.info("retrain").deterministic
    assert "labels" not in ub.methods.info("lfssd").needs  # loss-free: no labels of D_f
    assert "val" in ub.methods.info("dau").needs
    with pytest.raises(UnlearnbookError, match="method 'dau' needs a validation set"):
        ub.methods.check_needs("dau", 0.0)


def test_copy_does_not_inherit_unlearn_info(digits_class_task, digits_original):
    dampened = ub.methods.unlearn("lfssd", digits_original, digits_class_task, alpha=3.0)
    assert "dampening" in dampened.unlearn_info
    again = ub.methods.unlearn("original", dampened, digits_class_task)
    assert again.unlearn_info == {}
