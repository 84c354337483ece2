"""AdaProb: the projection solver's math, the method's behaviour, and the SCRUB protocol's
pieces (pre-trained start, CF-k, EU-k, the training options, the KL to the oracle)."""
import math

import pytest
import torch

import unlearnbook as ub
from unlearnbook._checks import UnlearnbookError
from unlearnbook.methods.adaprob import class_totals, refine, row_weights
from unlearnbook.metrics.core import accuracy, mean_kl, predict


def _random_rows(n: int, k: int, scale: float = 3.0, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(n, k, generator=generator, dtype=torch.float64) * scale, 1)


def test_refine_is_the_identity_when_the_totals_are_the_matrix_own():
    reference = _random_rows(300, 6)
    for weights in (torch.ones(300, dtype=torch.float64),
                    torch.linspace(0.5, 4.0, 300, dtype=torch.float64)):
        refined = refine(reference, weights, reference.sum(0))
        assert torch.allclose(refined.targets, reference, atol=1e-9)


def test_refine_meets_its_constraints_and_the_kkt_form():
    reference = _random_rows(400, 5, seed=1)
    totals = torch.tensor([0.5, 1.0, 1.5, 0.8, 1.2], dtype=torch.float64)
    totals = totals / totals.sum() * 400
    weights = torch.where(torch.arange(400) < 40, 1.0, 3.0).double()
    refined = refine(reference, weights, totals, tol=1e-9, max_iter=2000)
    targets = refined.targets
    assert torch.allclose(targets.sum(1), torch.ones(400, dtype=torch.float64), atol=1e-10)
    assert float(((targets.sum(0) - totals) / totals).abs().max()) < 1e-9
    assert float(targets.min()) >= 0 and float(targets.max()) <= 1
    # Eq. 6: w_n log(G_nk / Ĝ_nk) = -(μ_n + ν_k), so it differs across rows by a row constant
    scaled = weights[:, None] * torch.log(targets / reference)
    centred = scaled - scaled[:, :1]
    assert float((centred - centred[:1]).abs().max()) < 1e-8
    assert not torch.allclose(targets, reference, atol=1e-3)  # the totals did move it


def test_lambda_moves_the_forget_rows_as_the_ablation_says():
    """T5's direction: with the original's class totals, a larger λ stiffens the retain rows, so
    the forget rows take back more of their class (forget error falls as λ grows)."""
    k, retain, forget = 5, 200, 20
    labels = torch.cat([torch.arange(retain) % k, torch.zeros(forget, dtype=torch.long)])
    original = torch.full((retain + forget, k), 0.05, dtype=torch.float64)
    original[torch.arange(retain + forget), labels] = 0.8
    forget_mask = torch.arange(retain + forget) >= retain
    reference = original.clone()
    reference[forget_mask] = 1.0 / k
    totals = class_totals(original, reference, forget_mask, "original")
    mass = []
    for lam in (1.0, 2.0, 3.0, 4.0):
        targets = refine(reference, row_weights(reference, forget_mask, lam, "lambda"), totals,
                         tol=1e-10, max_iter=5000).targets
        mass.append(float(targets[forget_mask].gather(1, labels[forget_mask][:, None]).mean()))
    assert all(b > a for a, b in zip(mass, mass[1:])), mass
    assert mass[0] > 1.0 / k  # the forget rows leave the uniform start


def test_retain_totals_push_a_forgotten_class_away():
    k = 4
    original = torch.full((40, k), 0.02, dtype=torch.float64)
    labels = torch.arange(40) % k
    original[torch.arange(40), labels] = 0.94
    forget_mask = labels == 2
    reference = original.clone()
    reference[forget_mask] = 1.0 / k
    totals = class_totals(original, reference, forget_mask, "retain")
    assert math.isclose(float(totals.sum()), 40.0)
    targets = refine(reference, torch.ones(40, dtype=torch.float64), totals).targets
    assert float(targets[forget_mask, 2].max()) < 0.1


def test_bad_inputs_fail_early_with_the_allowed_values(digits_class_task, digits_original):
    reference = _random_rows(10, 3)
    with pytest.raises(UnlearnbookError, match="sum to N = 10"):
        refine(reference, torch.ones(10, dtype=torch.float64), reference.sum(0) * 2)
    with pytest.raises(UnlearnbookError, match="lam > 0"):
        ub.methods.unlearn("adaprob", digits_original, digits_class_task, lam=0.0)
    with pytest.raises(UnlearnbookError, match="marginal 'sideways'.*allowed"):
        ub.methods.unlearn("adaprob", digits_original, digits_class_task, marginal="sideways")
    with pytest.raises(UnlearnbookError, match="reset"):
        ub.methods.unlearn("euk", digits_original, digits_class_task, reset="zeros")


def _errors(model, task):
    return {name: 100.0 - accuracy(*predict(model, getattr(task, name)))
            for name in ("retain", "forget", "test")}


def test_adaprob_with_its_defaults_forgets_a_digit_class(digits_class_task, digits_original):
    before = _errors(digits_original, digits_class_task)
    unlearned = ub.methods.unlearn("adaprob", digits_original, digits_class_task)
    after = _errors(unlearned, digits_class_task)
    assert after["forget"] >= 90.0
    assert after["retain"] - before["retain"] <= 5.0
    info = unlearned.unlearn_info
    assert info["marginal"] == "retain" and info["column_residual"] < 1e-6


def test_mean_kl_has_known_values():
    logits = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
    assert mean_kl(logits, logits) == pytest.approx(0.0, abs=1e-12)
    reference = torch.log(torch.tensor([[0.9, 0.1], [0.9, 0.1]]))
    expected = 0.5 * (0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1))
    assert mean_kl(logits, reference) == pytest.approx(expected, abs=1e-6)


def test_adaprob_suite_scores_errors_mia_and_kl_to_the_oracle(digits_class_task,
                                                              digits_original):
    specs = ub.pipeline.method_specs(["retrain", "adaprob"], {"retrain": {}})
    frame, _ = ub.pipeline.run_methods(digits_original, digits_class_task, specs, "adaprob")
    values = frame.pivot_table(index="label", columns="metric", values="value")
    assert values.loc["retrain", "kl_forget"] == pytest.approx(0.0, abs=1e-9)
    assert values.loc["adaprob", "kl_forget"] > 0
    assert 0 <= values.loc["adaprob", "MIA"] <= 100
    assert values.loc["adaprob", "forget_err"] >= 90


def test_cfk_trains_only_the_last_block_and_euk_resets_it(digits_class_task, digits_original):
    block = "body.8"  # the small CNN's hidden layer
    before = digits_original.state_dict()
    for name in ("cfk", "euk"):
        after = ub.methods.unlearn(name, digits_original, digits_class_task, epochs=1).state_dict()
        changed = {k for k in before if not torch.equal(before[k], after[k])}
        assert changed and all(k.startswith(block) for k in changed), (name, changed)
    fresh = ub.models.rebuild(digits_original, seed=0)
    reset = ub.methods.unlearn("euk", digits_original, digits_class_task, epochs=0,
                               seed=0).state_dict()
    assert torch.equal(reset[f"{block}.weight"], fresh.state_dict()[f"{block}.weight"])


def test_pretrained_start_is_shared_by_the_original_and_the_oracle(tmp_path):
    task = ub.data.make_task("digits", "partial", forget_class=0, forget_size=5, classes=5,
                             train_per_class=40, val_fraction=0.2)
    pretrain = {"dataset": "digits", "classes": [5, 6, 7, 8, 9], "train_per_class": 30,
                "recipe": {"epochs": 1, "lr": 0.1, "weight_decay": 0.0, "l2_init": 5e-4,
                           "schedule": "constant"}}
    start = ub.pipeline.pretrained_start(task, "smallcnn", {}, pretrain, train_seed=3)
    again = ub.models.rebuild(start, seed=7)  # the oracle's start: the same weights
    assert all(torch.equal(a, b) for a, b in zip(start.state_dict().values(),
                                                 again.state_dict().values()))
    random = ub.models.rebuild(start, seed=3, init=False)
    assert not torch.equal(random.body[0].weight, start.body[0].weight)
    assert start.head.out_features == 5
    with pytest.raises(UnlearnbookError, match="allowed keys"):
        ub.pipeline.pretrained_start(task, "smallcnn", {}, {"dataset": "digits", "lr": 1})


def test_recipe_options_freeze_batchnorm_and_pull_to_the_start():
    task = ub.data.make_task("digits", "class", forget_class=1, classes=3, val_fraction=0.0)
    model = ub.models.build("smallcnn", 3, 1, seed=0)
    frozen = ub.train.fit(model, task.train, ub.train.Recipe(epochs=1, freeze_bn=True),
                          cache=False)
    assert torch.equal(frozen.body[1].running_mean, model.body[1].running_mean)
    pulled = ub.train.fit(model, task.train, ub.train.Recipe(epochs=2, lr=0.05, l2_init=50.0,
                                                             weight_decay=0.0), cache=False)
    free = ub.train.fit(model, task.train, ub.train.Recipe(epochs=2, lr=0.05, weight_decay=0.0),
                        cache=False)

    def moved(m):
        return sum(float((a.detach() - b).pow(2).sum()) for a, b in zip(m.parameters(),
                                                              model.parameters()))
    assert moved(pulled) < moved(free)
    assert "l2_init" not in ub.train.recipe_key(ub.train.Recipe())  # old cache keys kept


def test_classes_may_be_a_list_relabelled_in_order():
    task = ub.data.make_task("digits", "class", forget_class=0, classes=[7, 2], val_fraction=0.0)
    assert task.class_names == ("7", "2") and set(task.train.labels.tolist()) == {0, 1}
    with pytest.raises(UnlearnbookError, match="class in classes 12"):
        ub.data.make_task("digits", "class", forget_class=0, classes=[1, 12])


def test_default_targets_do_not_restore_the_forget_labels():
    """2.5% of the data forgotten (one class's samples), confident retain rows: the default
    class totals leave at least half the forget rows off their label; ``original`` totals push
    the deficit back and restore every label (the defect the default avoids)."""
    from unlearnbook.methods.adaprob import (class_totals, refine, row_weights,
                                             target_diagnostics)

    n, k, forgotten = 4000, 10, 100
    labels = torch.arange(n) % k
    labels[-forgotten:] = 5
    original = torch.full((n, k), 0.1 / 9, dtype=torch.float64)
    original[torch.arange(n), labels] = 0.9
    mask = torch.zeros(n, dtype=torch.bool)
    mask[-forgotten:] = True
    reference = original.clone()
    reference[mask] = 1.0 / k

    def diagnose(marginal):
        refined = refine(reference, row_weights(reference, mask, 1.0, "lambda"),
                         class_totals(original, reference, mask, marginal))
        return target_diagnostics(refined, mask, labels, 1e-6)

    default = diagnose("retain")  # what marginal="auto" resolves to in class-wise forgetting
    assert default["target_forget_error"] >= 50 and default["solver_converged"] == 1.0
    restored = diagnose("original")
    assert restored["target_forget_error"] == 0 and restored["target_forget_mass"] > 0.15


def test_heldout_targets_move_with_lambda_and_sit_near_retrain():
    """Issue 35.2: in sample-level forgetting (AdaProb's protocol: part of one class) the
    default class totals count each forget sample as the original treats unseen samples of its
    class (``heldout``), so the targets resemble a retrained model's (their forget error within
    10 points of Retrain's, where ``retain`` totals leave the uniform rows nearly as they are),
    λ moves them (a stiffer D_r pushes more of the column adjustment onto D_f), and the solver
    converges."""
    task = ub.data.make_task("digits", "partial", forget_class=3, forget_size=60, seed=0,
                             val_fraction=0.2)
    model = ub.models.build("smallcnn", 10, 1, seed=0)
    recipe = ub.train.Recipe(epochs=12, lr=0.05, batch_size=64, schedule="cosine")
    original = ub.train.fit(model, task.train, recipe, seed=0)
    retrained = ub.methods.unlearn("retrain", original, task)
    retrain_error = 100 - ub.metrics.core.accuracy(*ub.metrics.predict(retrained, task.forget))

    def targets(**hp):
        out = ub.methods.unlearn("adaprob", original, task, epochs=1, **hp)
        return out.unlearn_info

    default = targets()
    assert default["marginal"] == "heldout" and default["solver_converged"] == 1.0
    assert abs(default["target_forget_error"] - retrain_error) <= 10.0, (default, retrain_error)
    assert targets(marginal="retain")["target_forget_error"] >= 50  # the near-uniform variant
    stiff = targets(lam=4.0)
    assert stiff["target_forget_mass"] > default["target_forget_mass"] + 0.01
    assert stiff["solver_converged"] == 1.0
