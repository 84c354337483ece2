"""SCRUB, SCRUB+R and NegGrad+ (shared by SURE and AdaProb): their math and their behaviour."""
import pytest
import torch
from torch import nn

import unlearnbook as ub
from unlearnbook import UnlearnbookError
from unlearnbook.methods.common import forget_validation, kl_temperature, proximal, step_lr
from unlearnbook.methods.neggrad_plus import neggrad_plus_loss
from unlearnbook.methods.scrub import rewind_epoch


def test_kl_temperature_is_hintons_kl_times_t_squared():
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 4), torch.randn(5, 4)
    t = 4.0
    p = torch.softmax(teacher / t, 1)
    q = torch.softmax(student / t, 1)
    expected = (p * (p.log() - q.log())).sum(1).mean() * t * t
    assert kl_temperature(student, teacher, t) == pytest.approx(expected.item(), rel=1e-5)
    reference = nn.functional.kl_div(q.log(), p, reduction="batchmean") * t * t
    assert kl_temperature(student, teacher, t) == pytest.approx(reference.item(), rel=1e-5)
    assert kl_temperature(teacher, teacher, t).item() == pytest.approx(0.0, abs=1e-7)


def test_neggrad_plus_loss_and_helpers():
    torch.manual_seed(0)
    lr_, lf = torch.randn(6, 3), torch.randn(4, 3)
    yr, yf = torch.randint(0, 3, (6,)), torch.randint(0, 3, (4,))
    ce = nn.functional.cross_entropy
    got = neggrad_plus_loss(lr_, yr, lf, yf, alpha=0.8)
    assert got.item() == pytest.approx((0.8 * ce(lr_, yr) - 0.2 * ce(lf, yf)).item())
    assert [step_lr(1.0, e, (3, 5)) for e in range(1, 7)] == pytest.approx(
        [1, 1, 1, 0.1, 0.1, 0.01])
    model = nn.Linear(2, 2)
    start = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        model.weight += 1.0
    assert proximal(model, start).item() == pytest.approx(0.5 * 4)


def test_rewind_picks_the_epoch_closest_to_the_reference_error():
    assert rewind_epoch([10.0, 40.0, 80.0], 35.0) == 2
    assert rewind_epoch([90.0, 95.0], 0.0) == 1


def _forget_accuracy(model, task):
    return ub.metrics.accuracy(*ub.metrics.predict(model, task.forget))


def test_neggrad_plus_with_no_retain_weight_ascends_on_the_forget_set(digits_class_task,
                                                                      digits_original):
    task = digits_class_task
    out = ub.methods.unlearn("neggrad_plus", digits_original, task, alpha=0.0, lr=0.01,
                             epochs=1, forget_batch_size=32)

    def forget_loss(model):
        return nn.functional.cross_entropy(*ub.metrics.predict(model, task.forget)).item()
    assert forget_loss(out) > 2 * forget_loss(digits_original)
    assert _forget_accuracy(out, task) < _forget_accuracy(digits_original, task) - 10


def test_scrub_forgets_a_digit_and_keeps_the_rest(digits_class_task, digits_original):
    task = digits_class_task
    out = ub.methods.unlearn("scrub", digits_original, task, lr=0.001, epochs=4, max_steps=3,
                             alpha=0.5, gamma=1.0, forget_batch_size=32, retain_batch_size=64)
    retain = ub.metrics.accuracy(*ub.metrics.predict(out, task.retain))
    assert _forget_accuracy(out, task) < 30
    assert retain > ub.metrics.accuracy(*ub.metrics.predict(digits_original, task.retain)) - 5
    history = out.unlearn_info["history"]
    assert list(history["epoch"]) == [1, 2, 3, 4] and history["max_loss"].isna().tolist() == [
        False, False, False, True]  # max steps only in the first max_steps epochs


def test_scrub_r_rewinds_to_a_saved_epoch(digits_original):
    task = ub.data.make_task("digits", scenario="partial", forget_class=3, forget_size=20,
                             val_fraction=0.2)
    out = ub.methods.unlearn("scrub_r", digits_original, task, lr=0.002, epochs=3, max_steps=2,
                             forget_batch_size=16, retain_batch_size=64)
    info = out.unlearn_info
    errors = info["history"]["forget_error"].tolist()
    assert info["epoch"] == rewind_epoch(errors, info["reference_error"])
    assert 100 - _forget_accuracy(out, task) == pytest.approx(errors[info["epoch"] - 1])
    assert len(forget_validation(task)) > 0
    assert set(forget_validation(task).labels.tolist()) == {3}
    with pytest.raises(UnlearnbookError, match="method 'scrub_r' needs a validation set"):
        ub.methods.unlearn("scrub_r", digits_original, ub.data.make_task(
            "digits", scenario="class", forget_class=3, val_fraction=0.0))
