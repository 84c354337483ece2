"""Protocol fidelity (issue 26): the oracle's seed, augmentation while unlearning, full-size DAU
pairs, IU's tuned step, an attacker tested on held-out members, like-for-like SSD / LFSSD."""
import copy
import dataclasses

import numpy as np
import pytest
import torch

import unlearnbook as ub
from unlearnbook.methods.dau import Attacker, dau, defender_view, pretrain_attacker

TINY = ub.train.Recipe(epochs=3, lr=0.05, batch_size=64)


def test_the_oracle_gets_the_training_seed_whatever_the_unlearning_seed():
    task = ub.data.make_task("digits", "random", forget_size=20, seed=1)
    model = ub.models.build("smallcnn", 10, 1, seed=0, width=4, hidden=8)
    original = ub.train.fit(model, task.train, TINY, seed=0)
    frame, _ = ub.pipeline.run_methods(original, task, ub.pipeline.method_specs(
        ["retrain", "ga"], {"ga": {"epochs": 1}}), "lfssd", unlearn_seed=1)
    seeds = frame.drop_duplicates("label").set_index("label")["hp"].map(
        lambda text: __import__("json").loads(text).get("seed"))
    assert seeds["retrain"] == 0  # the training seed
    assert seeds["ga"] == 1       # the unlearning seed
    frame, _ = ub.pipeline.run_methods(original, task, ub.pipeline.method_specs(
        ["retrain"]), "lfssd", unlearn_seed=1, oracle_seed=2)
    assert __import__("json").loads(frame["hp"].iloc[0])["seed"] == 2
    assert set(frame["oracle_seed"]) == {2} and set(frame["train_seed"]) == {0}


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_lfssd_holds_its_original_fixed_and_varies_the_oracle(profile):
    """Issue 35.5: the paper prints its original with +-0.00 and its Retrain with a spread, so
    one original serves every seed of a setting while the oracles' and methods' seeds vary."""
    runs = ub.runner.plan(profile, ["lfssd"])
    by_setting = {}
    for run in runs:
        by_setting.setdefault(run.run_id.rsplit("-s", 1)[0], []).append(run.parameters)
    several = {k: v for k, v in by_setting.items() if len(v) > 1}
    assert several
    for setting, params in several.items():
        assert len({p["train_seed"] for p in params}) == 1, setting
        assert len({p["oracle_seed"] for p in params}) == len(params), setting
        assert len({p["unlearn_seed"] for p in params}) == len(params), setting


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_ssd_uses_the_papers_alpha_everywhere(profile):
    """Issue 35.5: SSD runs at alpha 10 in every LFSSD table (Tables 4-7); a tuned alpha would
    be a labelled variant, never the 'ssd' row."""
    for run in ub.runner.plan(profile, ["lfssd"]):
        specs = ub.pipeline.method_specs(run.parameters["methods"], run.parameters["method_hp"])
        for spec in specs:
            if spec.label == "ssd":
                assert spec.hp.get("alpha", 10.0) == 10.0, run.run_id


def test_unlearning_sees_the_training_transform_and_evaluation_does_not():
    plain = ub.data.make_task("digits", "class", forget_class=3)
    task = ub.data.make_task("digits", "class", forget_class=3, unlearn_augment=True)
    assert task.val.augmentation is None and task.test.augmentation is None
    gen = torch.Generator().manual_seed(0)
    augmented = next(ub.data.dataset.batches(task.retain, 64, shuffle=True, generator=gen))[0]
    gen = torch.Generator().manual_seed(0)
    same_order = next(ub.data.dataset.batches(plain.retain, 64, shuffle=True, generator=gen))[0]
    assert not torch.equal(augmented, same_order)
    model = ub.models.build("smallcnn", 10, 1, seed=0, width=4, hidden=8)
    assert torch.equal(ub.metrics.predict(model, task.retain)[0],
                       ub.metrics.predict(model, plain.retain)[0])  # scoring is plain


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_dau_profiles_unlearn_with_the_training_transform(profile):
    for run in ub.runner.plan(profile, ["dau"]):
        assert run.parameters["task_kwargs"].get("unlearn_augment") is True, run.run_id


def test_dau_pairs_are_full_size_every_iteration():
    """|D_f| = 45 with pairs of 16: the last batch of each pass would hold 13 (+13); every
    iteration's pair must hold 16 + 16."""
    task = ub.data.make_task("digits", "random", forget_size=45, seed=0, val_fraction=0.2)
    model = ub.models.build("smallcnn", 10, 1, seed=0, width=4, hidden=8)
    original = ub.train.fit(model, task.train, TINY, seed=0)
    out = ub.methods.unlearn("dau", original, task, batch_size=16, epochs=1,
                             pretrain_iterations=2, min_iterations=12, seed=0)
    history = out.unlearn_info["history"]
    assert len(history) >= 12
    assert (history["forget_pair"] == 16).all() and (history["val_pair"] == 16).all()


def test_iu_tunes_its_step_and_keeps_retain_accuracy():
    task = ub.data.make_task("digits", "random", forget_size=100, seed=0)
    model = ub.models.build("smallcnn", 10, 1, seed=0, width=8, hidden=16)
    original = ub.train.fit(model, task.train, ub.train.Recipe(epochs=10, lr=0.05,
                                                               batch_size=64), seed=0)
    before = ub.metrics.evaluate(original, task, suite="dau")["RA"]
    out = ub.methods.unlearn("iu", original, task, samples=200)
    info = out.unlearn_info
    assert info["chosen"]["alpha"] in info["alpha_grid"]
    assert ub.metrics.evaluate(out, task, suite="dau")["RA"] >= before - 5
    frame, _ = ub.pipeline.run_methods(original, task, ub.pipeline.method_specs(
        ["iu"], {"iu": {"samples": 200}}), "dau")
    assert '"alpha": ' in frame["hp"].iloc[0]  # the winner is recorded with the results


def test_the_attacker_tells_held_out_members_from_non_members():
    """A model that memorised 30% noisy labels (300 training images, 80 epochs) has a real
    train/test gap; the DAU attacker, trained on half of its members (with the labels it was
    trained on) and non-members, classifies the other halves well above chance."""
    task = ub.data.make_task("digits", "random", forget_size=30, seed=0, train_per_class=30,
                             val_fraction=0.0)
    rng = np.random.RandomState(0)
    labels = task.train.labels.clone()
    noisy = rng.rand(len(labels)) < 0.3
    labels[torch.from_numpy(noisy)] = torch.from_numpy(rng.randint(0, 10, int(noisy.sum())))
    train = task.train.relabel(labels)
    model = ub.models.build("smallcnn", 10, 1, seed=0, width=8, hidden=32)
    model = ub.train.fit(model, train, ub.train.Recipe(epochs=80, lr=0.05, batch_size=32),
                         seed=0)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        x_in, y_in = train.batch(torch.arange(len(train)))
        x_out, y_out = task.test.batch(torch.arange(len(task.test)))
        members = defender_view(model, x_in, y_in, 10, generator=gen)[1]
        nonmembers = defender_view(model, x_out, y_out, 10, generator=gen)[1]
    n = min(len(members), len(nonmembers)) // 2
    torch.manual_seed(0)
    attacker = Attacker(10)
    optimizer = torch.optim.Adam(attacker.parameters(), lr=1e-3)
    pretrain_attacker(attacker, optimizer, members[:n], nonmembers[:n], 300, 32, gen)
    attacker.eval()
    with torch.no_grad():
        held = torch.cat([members[n:2 * n], nonmembers[n:2 * n]])
        truth = torch.cat([torch.ones(n), torch.zeros(n)])
        accuracy = ((attacker(held) > 0).float() == truth).float().mean().item()
    train_acc = ub.metrics.core.accuracy(*ub.metrics.predict(model, train))
    test_acc = ub.metrics.core.accuracy(*ub.metrics.predict(model, task.test))
    assert train_acc - test_acc > 10, (train_acc, test_acc)  # the gap is real
    assert accuracy > 0.6, (accuracy, train_acc, test_acc)


def test_scrub_smoothing_after_both_steps_is_adaprobs_copy():
    """AdaProb's SCRUB adds the smoothing term to the max step too: with smoothing and max
    steps the weights differ from smoothing on the min step only; without max steps they agree;
    the AdaProb sections of the paper and smoke profiles ask for it."""
    task = ub.data.make_task("digits", "random", forget_size=30, seed=0)
    model = ub.models.build("smallcnn", 10, 1, seed=0, width=4, hidden=8)
    original = ub.train.fit(model, task.train, TINY, seed=0)
    hp = dict(epochs=2, max_steps=2, smoothing=0.5, smoothing_start=0, lr=0.05, seed=0)

    def weights(**extra):
        out = ub.methods.unlearn("scrub", original, task, **{**hp, **extra})
        return torch.cat([p.detach().flatten() for p in out.parameters()])

    assert not torch.allclose(weights(smoothing_steps="both"), weights(smoothing_steps="min"))
    assert torch.equal(weights(smoothing_steps="both", max_steps=0),
                       weights(smoothing_steps="min", max_steps=0))
    for profile in ("paper", "smoke"):
        for run in ub.runner.plan(profile, ["adaprob"]):
            scrub = (run.parameters.get("method_hp") or {}).get("scrub", {})
            if scrub.get("smoothing"):
                assert scrub.get("smoothing_steps") == "both", run.run_id


def test_euk_resets_the_head_as_the_scrub_code_does():
    task = ub.data.make_task("digits", "class", forget_class=3)
    model = ub.models.build("smallcnn", 10, 1, seed=0, width=4, hidden=8)
    original = ub.train.fit(model, task.train, TINY, seed=0)
    kept = ub.methods.unlearn("euk", original, task, epochs=0)
    reset = ub.methods.unlearn("euk", original, task, epochs=0, reset_head=True)
    fresh = ub.models.rebuild(original, seed=0)
    for name, value in original.head.state_dict().items():
        assert torch.equal(kept.head.state_dict()[name], value)
        assert torch.equal(reset.head.state_dict()[name], fresh.head.state_dict()[name])
    for profile_run in ub.runner.plan("paper", ["adaprob"]):
        euk = (profile_run.parameters.get("method_hp") or {}).get("euk")
        if euk:
            assert (euk["momentum"], euk["weight_decay"], euk["reset_head"]) == (0.0, 0.0, True)


def test_neggrad_plus_weighs_the_proximal_term_inside_alpha():
    """SCRUB's notebook: α·(CE_r + prox·½‖θ − θ_0‖²) − (1 − α)·CE_f. With α = 0 only the forget
    term acts, so the proximal weight cannot matter."""
    task = ub.data.make_task("digits", "random", forget_size=30, seed=0)
    model = ub.models.build("smallcnn", 10, 1, seed=0, width=4, hidden=8)
    original = ub.train.fit(model, task.train, TINY, seed=0)
    hp = dict(epochs=1, lr=0.01, alpha=0.0, decay_epochs=(), momentum=0.0, weight_decay=0.0,
              seed=0)
    outs = [ub.methods.unlearn("neggrad_plus", original, task, prox=prox, **hp)
            for prox in (0.0, 10.0)]
    for a, b in zip(outs[0].parameters(), outs[1].parameters()):
        assert torch.allclose(a, b)


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_sure_runs_pick_epochs_without_the_oracle_and_give_equal_step_budgets(profile):
    """Issue 35.3: the epoch rule must not be the gaps the claims score (select_epoch 'val'),
    every method passes over D_r in batches of one size (equal steps per epoch: FineTune and
    L1Sparse read no D_f, so the tables' forget batch is no retain batch of theirs), SCRUB's
    max step keeps the SCRUB code's weight 1, and SURE's 1 - alpha reading is a labelled
    variant."""
    for run in ub.runner.plan(profile, ["sure"]):
        params = ub.runner.full_parameters(run)
        if run.labels["group"] == "sensitivity":
            continue
        assert params["select_epoch"] == "val", run.run_id
        retain = {}
        for spec in ub.pipeline.method_specs(params["methods"], params["method_hp"]):
            if spec.name == "retrain":
                continue
            hp = {**ub.methods.hyperparameters(spec.name), **spec.hp}
            retain[spec.label] = hp.get("retain_batch_size", hp.get("batch_size"))
            if spec.label == "scrub":
                assert hp["max_weight"] == 1.0, run.run_id
            if spec.label == "scrub_alpha":
                assert hp["max_weight"] == pytest.approx(1 - hp["alpha"]), run.run_id
        assert set(retain.values()) == {128}, (run.run_id, retain)
        assert "scrub_alpha" in retain, run.run_id


def test_dau_attacker_and_vss_see_no_augmentation_on_either_side():
    """Issue 35.4: unlearning augments D_r (the Unlearn-Sparse code), but D_v carries no
    transform, so an attacker shown augmented members and plain non-members would learn the
    augmentation. Every image DAU's view (the attacker's input and V_ss's features) receives
    is a plain image of the task, and the run records the pre-trained attacker's balanced
    accuracy on held-out members and non-members."""
    task = ub.data.make_task("digits", "random", forget_size=40, seed=0, val_fraction=0.2,
                             unlearn_augment=True)
    assert task.forget.augmentation is not None and task.val.augmentation is None
    model = ub.models.build("smallcnn", 10, 1, seed=0, width=4, hidden=8)
    original = ub.train.fit(model, task.train, TINY, seed=0)
    plain = torch.cat([data.batch(torch.arange(len(data)))[0]
                       for data in (task.train, task.val, task.test)]).flatten(1)
    seen = []

    def recording_view(model, x, y, *args):
        seen.append(x.detach().flatten(1))
        return defender_view(model, x, y, *args)
    out = dau(copy.deepcopy(original), task, batch_size=16, epochs=1, seed=0,
              pretrain_iterations=2, min_iterations=3, view_fn=recording_view)
    def nearest_plain(images):
        return torch.cdist(images, plain).min(dim=1).values

    gen = torch.Generator().manual_seed(0)
    augmented = next(ub.data.dataset.batches(task.forget, 40, shuffle=True, generator=gen))[0]
    assert nearest_plain(augmented.flatten(1)).median() > 0.5  # the check can see a crop
    distance = nearest_plain(torch.cat(seen))
    assert distance.max() < 0.05, f"{int((distance > 0.05).sum())} augmented images seen"
    accuracy = out.unlearn_info["report"]["attacker_heldout_acc"]
    assert 0.0 <= accuracy <= 100.0


def test_dau_budgets_follow_the_papers_in_the_cpu_profile():
    """Issue 35.4: FineTune 10 epochs (Unlearn-Sparse) and 1,000 attacker pre-training
    iterations (DAU Sec. 4.2) in every cpu DAU run."""
    for run in ub.runner.plan("cpu", ["dau"]):
        params = ub.runner.full_parameters(run)
        specs = {s.label: {**ub.methods.hyperparameters(s.name), **s.hp}
                 for s in ub.pipeline.method_specs(params["methods"], params["method_hp"])}
        assert specs["ft"]["epochs"] == 10 and specs["dau"]["pretrain_iterations"] == 1000


def test_cpu_results_do_not_depend_on_native_bf16(monkeypatch):
    """Issue 35.6: on a CPU with native bf16 the package trains under bf16 autocast by default,
    which moved a digits original's forget accuracy by 2.5 points. Every cpu-profile recipe
    pins fp32, so it resolves to fp32 on such a CPU too, and every result row records the
    precision of the training and of the unlearning."""
    monkeypatch.setattr(ub.device, "cpu_bf16_native", lambda: True)
    cpu = torch.device("cpu")
    assert ub.train.resolve(ub.train.Recipe(), cpu).precision == "bf16"  # the default would
    for run in ub.runner.plan("cpu"):
        params = ub.runner.full_parameters(run)
        recipes = [params["recipe"]] + ([params["pretrain"]["recipe"]] if params.get("pretrain")
                                        else [])
        for recipe in recipes:
            resolved = ub.train.resolve(ub.train.Recipe.from_dict(recipe), cpu)
            assert resolved.precision == "fp32", run.run_id
    monkeypatch.undo()
    task = ub.data.make_task("digits", "random", forget_size=20, seed=1)
    model = ub.models.build("smallcnn", 10, 1, seed=0, width=4, hidden=8)
    # pinned as the cpu profile pins it (TINY's "auto" is bf16 where this test runs on native bf16)
    original = ub.train.fit(model, task.train, dataclasses.replace(TINY, precision="fp32"), seed=0)
    frame, _ = ub.pipeline.run_methods(original, task, ub.pipeline.method_specs(
        ["retrain", "ga"], {"ga": {"epochs": 1}}), "lfssd")
    assert set(frame["train_precision"]) == {"fp32"}
    assert set(frame["unlearn_precision"]) == {"fp32"}


def test_one_cifar10_original_per_seed_across_papers():
    """Issue 34.2: LFSSD's random forgetting (T7) trains no original of its own in the cpu
    profile: it shares DAU's CIFAR-10 original (same data, recipe and seed), so the grid plans
    one job for both, although DAU unlearns with the training transform and runs a dense
    'sparsity' list. DAU holds its original fixed across seeds (the Unlearn-Sparse code trains
    one checkpoint), so every CIFAR-10 run of both papers shares it."""
    runs = {f"{r.paper}/{r.run_id}": ub.runner.original_key(ub.runner.full_parameters(r))
            for r in ub.runner.plan("cpu", ["lfssd", "dau"])}
    cifar10 = {key for name, key in runs.items() if "random-100" in name or "c10-" in name}
    assert len(cifar10) == 1 and len(runs) == 11 + 6
    assert runs["lfssd/class-lamp-rn-s0"] not in cifar10
