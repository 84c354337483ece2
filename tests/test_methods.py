from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import unlearnbook as ub
from unlearnbook import UnlearnbookError
from unlearnbook.methods.dampening import (cross_entropy, importance, output_sq_norm,
                                           reference_order)


def _toy_task():
    """Forget samples live mostly on input dim 0, the rest of D on dims 1 and 2."""
    gen = torch.Generator().manual_seed(0)
    retain_x = torch.randn(12, 3, generator=gen) * torch.tensor([0.05, 1.0, 1.0])
    forget_x = torch.randn(4, 3, generator=gen) * torch.tensor([1.0, 0.05, 0.05])
    x = torch.cat([retain_x, forget_x])
    y = torch.randint(0, 2, (16,), generator=gen)
    return SimpleNamespace(train=TensorDataset(x, y), retain=TensorDataset(retain_x, y[:12]),
                           forget=TensorDataset(forget_x, y[12:]))


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
    imp_d = importance(model, reference_order(task)[0], objective, stat, mode, 64)["weight"]
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


def _ssd_reference(model: nn.Module, retain, forget, alpha: float, lam: float,
                   loss_free: bool) -> nn.Module:
    """The SSD reference procedure, written out (ParameterPerturber): importances from
    unshuffled DataLoaders over D = ConcatDataset(D_r, D_f) and over D_f (batch 64, eval mode),
    each batch's mean-loss gradient squared (SSD) or its absolute value (LFSSD), divided by the
    number of batches; then p[sel] *= min(lam * imp_D / imp_f, 1) where imp_f > alpha * imp_D."""
    import copy
    from torch.utils.data import ConcatDataset, DataLoader
    model = copy.deepcopy(model).eval()

    def importances(dataset):
        loader = DataLoader(dataset, batch_size=64, shuffle=False)
        totals = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
        for x, y in loader:
            model.zero_grad()
            out = model(x)
            loss = out.norm(p=2, dim=1).pow(2).mean() if loss_free else nn.CrossEntropyLoss()(out, y)
            loss.backward()
            for n, p in model.named_parameters():
                totals[n] += p.grad.abs() if loss_free else p.grad.pow(2)
        return {n: t / len(loader) for n, t in totals.items()}

    original = importances(ConcatDataset([retain, forget]))
    forgotten = importances(forget)
    with torch.no_grad():
        for n, p in model.named_parameters():
            locations = forgotten[n] > original[n] * alpha
            update = (original[n] * lam / forgotten[n])[locations]
            update[update > 1] = 1
            p[locations] = p[locations] * update
    return model


@pytest.mark.parametrize("method", ["ssd", "lfssd"])
def test_batch_mean_dampening_matches_ssd_reference(digits_class_task, digits_original, method):
    """Issue 7.5: our batch-mean SSD / LFSSD give the SSD reference's dampened weights on the same
    model and data (D = D_r then D_f in the documented order)."""
    task = digits_class_task
    full, forget = reference_order(task)
    retain = full.subset(np.arange(len(task.retain)))
    alpha = 10.0 if method == "ssd" else 3.0
    ours = ub.methods.unlearn(method, digits_original, task, alpha=alpha,
                              importance_mode="batch_mean")
    reference = _ssd_reference(digits_original, retain, forget, alpha, 1.0, method == "lfssd")
    assert ours.unlearn_info["selected_fraction"] > 0
    for (name, got), expected in zip(ours.state_dict().items(), reference.state_dict().values()):
        assert torch.allclose(got, expected, rtol=1e-5, atol=1e-7), name


def test_batch_mean_importance_ignores_the_source_order(digits_class_task, digits_original):
    """The same samples listed in another order (a class-sorted image folder vs the torchvision
    download) give the same batch-mean SSD result."""
    import dataclasses
    task = digits_class_task
    perm = np.random.RandomState(5).permutation
    shuffled = dataclasses.replace(task, train=task.train.subset(perm(len(task.train))),
                                   retain=task.retain.subset(perm(len(task.retain))),
                                   forget=task.forget.subset(perm(len(task.forget))))
    a = ub.methods.unlearn("ssd", digits_original, task, alpha=5.0)
    b = ub.methods.unlearn("ssd", digits_original, shuffled, alpha=5.0)
    assert a.unlearn_info["selected_fraction"] > 0
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name


def test_stratified_order_and_sample():
    labels = np.repeat([0, 1, 2], [60, 30, 10])
    sample = ub.data.stratified_sample(labels, 20, seed=3)
    assert np.bincount(labels[sample], minlength=3).tolist() == [12, 6, 2]
    assert len(set(sample)) == 20
    assert not np.array_equal(sample, ub.data.stratified_sample(labels, 20, seed=4))
    # the label sequence depends on the class counts only, not on how the source lists samples
    shuffled = np.random.RandomState(0).permutation(labels)
    assert np.array_equal(labels[ub.data.stratified_order(labels)],
                          shuffled[ub.data.stratified_order(shuffled)])


def test_lfssd_and_ssd_forget_a_digit(digits_class_task, digits_original):
    task = digits_class_task
    base = ub.metrics.evaluate(digits_original, task)
    assert base["Df"] > 90
    for name, hp in (("lfssd", dict(alpha=3.0, importance_mode="per_sample")),
                     ("ssd", dict(alpha=5.0, importance_mode="per_sample"))):
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


def test_per_sample_fisher_matches_a_loop_over_samples(digits_class_task, digits_original):
    """``batch_size=1`` (the SCRUB code's Fisher) is vectorised; it must equal the loop."""
    from unlearnbook.methods.fisher import retain_fisher
    model, small = digits_original.eval(), digits_class_task.retain.subset(np.arange(12))
    params = dict(model.named_parameters())
    expected = {k: torch.zeros_like(v) for k, v in params.items()}
    for x, _ in ub.data.batches(small, 1):
        logits = model(x)
        probs = torch.softmax(logits, 1).detach()
        for y in range(digits_class_task.num_classes):
            loss = nn.functional.cross_entropy(logits, torch.tensor([y]))
            grads = torch.autograd.grad(loss, list(params.values()), retain_graph=True)
            for k, g in zip(params, grads):
                expected[k] += probs[0, y] * g ** 2 / len(small)
    fisher = retain_fisher(model, small, digits_class_task.num_classes, batch_size=1)
    for k in params:
        assert torch.allclose(fisher[k], expected[k], rtol=1e-4, atol=1e-10), k


def test_influence_pieces(digits_class_task, digits_original):
    from unlearnbook.methods.influence import per_sample_gradients, summed_gradient
    small = digits_class_task.forget.subset(np.arange(5))
    total = summed_gradient(digits_original, small)
    rows = torch.stack(list(per_sample_gradients(digits_original, small)))
    assert torch.allclose(total, rows.sum(0), atol=1e-4)
    still = ub.methods.unlearn("iu", digits_original, digits_class_task, alpha=0.0, samples=10)
    for a, b in zip(still.parameters(), digits_original.parameters()):
        assert torch.equal(a, b)
    one = ub.methods.unlearn("iu", digits_original, digits_class_task, alpha=1.0, samples=10)
    two = ub.methods.unlearn("iu", digits_original, digits_class_task, alpha=2.0, samples=10)
    assert two.unlearn_info["update_norm"] == pytest.approx(2 * one.unlearn_info["update_norm"])


def test_first_n_subsets_are_stratified_draws(digits_class_task, digits_original):
    """Issue 7.7: on a class-sorted retain set, the IU Hessian samples and the DAU suite's MIA
    shadow sets still cover every retained class in proportion (the first N would cover one)."""
    import dataclasses
    from unlearnbook.metrics.suites import shadow_sets
    task = digits_class_task
    by_class = task.retain.subset(np.argsort(task.retain.labels.numpy(), kind="stable"))
    sorted_task = dataclasses.replace(task, retain=by_class)
    out = ub.methods.unlearn("iu", digits_original, sorted_task, alpha=0.0, samples=89)
    counts = np.array(out.unlearn_info["hessian_class_counts"])
    assert counts[3] == 0 and (np.delete(counts, 3) >= 9).all(), counts
    members, nonmembers, half = shadow_sets(by_class.labels, task.test.labels, seed=0)
    for drawn, labels in ((members, by_class.labels), (half, by_class.labels),
                          (nonmembers, task.test.labels)):
        share = np.bincount(labels[drawn].numpy(), minlength=10) / len(drawn)
        expected = np.bincount(labels.numpy(), minlength=10) / len(labels)
        assert np.abs(share - expected).max() < 0.02


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


def test_retrain_head_starts_from_the_original_backbone(digits_class_task, digits_original):
    """Issue 7.6: the SSD code's "retrain" re-initialises the head only and trains from the
    original weights at a tenth of the learning rate; it is not the from-scratch oracle."""
    frozen = ub.methods.unlearn("retrain_head", digits_original, digits_class_task,
                                lr_factor=1e-12)
    assert torch.equal(frozen.body[0].weight, digits_original.body[0].weight)
    assert not torch.allclose(frozen.head.weight, digits_original.head.weight)
    out = ub.methods.unlearn("retrain_head", digits_original, digits_class_task)
    assert out.recipe.lr == pytest.approx(digits_original.recipe.lr * 0.1)
    assert not torch.equal(out.body[0].weight, digits_original.body[0].weight)
    scores = ub.metrics.evaluate(out, digits_class_task)
    assert scores["Dr"] > 90 and scores["Df"] < 10
    with pytest.raises(UnlearnbookError, match="lr_factor 0 is out of range"):
        ub.methods.unlearn("retrain_head", digits_original, digits_class_task, lr_factor=0)


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_ssd_and_lfssd_use_the_same_importance_estimator(profile):
    """The head-to-head is like for like: in every LFSSD run SSD and LFSSD get the same
    ``importance_mode`` (the paper's batch-mean); Eq. 3's per-sample form is a labelled variant."""
    from unlearnbook.pipeline import method_specs

    for run in ub.runner.plan(profile, ["lfssd"]):
        specs = {s.label: s for s in method_specs(run.parameters["methods"],
                                                  run.parameters.get("method_hp"))}
        modes = {label: spec.hp.get("importance_mode", ub.methods.hyperparameters(
            spec.name)["importance_mode"]) for label, spec in specs.items()
            if spec.name in ("ssd", "lfssd") and label in ("ssd", "lfssd")}
        if len(modes) == 2:
            assert modes["ssd"] == modes["lfssd"] == "batch_mean", (run.run_id, modes)
        for label, spec in specs.items():
            if label == "lfssd_per_sample":
                assert spec.hp["importance_mode"] == "per_sample"
