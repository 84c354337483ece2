import numpy as np
import torch

import unlearnbook as ub
from unlearnbook.metrics import binary_attack_accuracy, entropy_lr_mia, svc_mia_efficacy


def test_accuracy_and_entropy_known_values():
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0], [0.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 0])
    assert ub.metrics.accuracy(logits, labels) == 75.0
    ent = ub.metrics.entropy(torch.zeros(1, 4))
    assert torch.allclose(ent, torch.log(torch.tensor([4.0])))
    conf = ub.metrics.confidence(torch.zeros(2, 2), torch.tensor([0, 1]))
    assert torch.allclose(conf, torch.full((2,), 0.5))


def test_mia_blocks_on_identical_and_separable():
    rng = np.random.RandomState(0)
    same_a, same_b = rng.normal(0, 1, 2000), rng.normal(0, 1, 2000)
    mean, _ = binary_attack_accuracy(same_a, same_b, seed=0)
    assert 40 < mean < 60
    mean, _ = binary_attack_accuracy(rng.normal(0, 1, 500), rng.normal(10, 1, 500), seed=0)
    assert mean > 99
    # SVC efficacy: target like non-members -> ~100; target like members -> ~0;
    # identical shadow distributions -> the attack is a coin flip over the target
    members, nonmembers = rng.normal(0, 0.1, 500), rng.normal(5, 0.1, 500)
    assert svc_mia_efficacy(members, nonmembers, rng.normal(5, 0.1, 200)) > 99
    assert svc_mia_efficacy(members, nonmembers, rng.normal(0, 0.1, 200)) < 1
    flip = svc_mia_efficacy(same_a[:500], same_b[:500], rng.normal(0, 1, 1000))
    assert 15 < flip < 85
    # entropy LR: members have low entropy
    assert entropy_lr_mia(rng.uniform(0, 0.1, 500), rng.uniform(1, 2, 500),
                          rng.uniform(0, 0.1, 100)) > 99
    assert entropy_lr_mia(rng.uniform(0, 0.1, 500), rng.uniform(1, 2, 500),
                          rng.uniform(1, 2, 100)) < 1


def test_lfssd_suite_keys(digits_class_task, digits_original):
    scores = ub.metrics.evaluate(digits_original, digits_class_task, suite="lfssd")
    for key in ("Dr", "Df", "MIA", "retain_acc", "forget_acc", "test_acc", "test_forget_acc",
                "test_retain_acc"):
        assert isinstance(scores[key], float), key
    assert scores["Df"] == scores["test_forget_acc"]


def test_loss_mia_on_a_model(digits_class_task, digits_original):
    from unlearnbook.methods import unlearn
    mean, std = ub.metrics.loss_mia(digits_original, digits_class_task)
    assert 0 <= mean <= 100 and std >= 0
    retrained = unlearn("retrain", digits_original, digits_class_task)
    # the retrained model never saw class 3: its training and test images of that class look
    # alike to the attacker, which is then near chance
    mean_retrained, _ = ub.metrics.loss_mia(retrained, digits_class_task)
    assert 30 <= mean_retrained <= 70
