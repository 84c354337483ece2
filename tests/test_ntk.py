"""NTK forgetting: the blockwise kernel and vector-Jacobian products against the dense formulas
of Golatkar et al. (2020b), the trapezium scale on known angles, and the small-scale guard."""

import pytest
import torch

import unlearnbook as ub
from unlearnbook._checks import UnlearnbookError
from unlearnbook.methods.ntk import trapezium_scale


@pytest.fixture(scope="module")
def tiny():
    task = ub.data.make_task("digits", "partial", forget_class=0, forget_size=4, classes=3,
                             train_per_class=12, val_fraction=0.0, seed=0)
    model = ub.models.build("smallcnn", task.num_classes, task.in_channels, seed=0)
    recipe = ub.train.Recipe(epochs=5, lr=0.05, batch_size=16, schedule="cosine")
    return task, ub.train.fit(model, task.train, recipe, seed=0).eval()


def _dense(model, dataset):
    """G (P x N K, one column per sample and class) and r = softmax − onehot, by plain autograd."""
    params = [p for p in model.parameters() if p.requires_grad]
    columns, residual = [], []
    for x, y in ub.data.batches(dataset, 1):
        logits = model(x)[0]
        for k in range(len(logits)):
            grads = torch.autograd.grad(logits[k], params, retain_graph=True)
            columns.append(torch.cat([g.reshape(-1) for g in grads]).double())
        probs = torch.softmax(logits.double(), 0).detach()
        probs[y[0]] -= 1
        residual.append(probs)
    return torch.stack(columns, 1), torch.cat(residual)


@pytest.mark.parametrize("memory_gb", [0.01, 1.0])  # chunks of 5 samples, or one chunk
def test_ntk_update_matches_the_dense_formulas(tiny, memory_gb):
    task, model = tiny
    ridge = 0.1
    g_retain, r_retain = _dense(model, task.retain)
    g_forget, r_forget = _dense(model, task.forget)
    g_all, r_all = torch.cat([g_retain, g_forget], 1), torch.cat([r_retain, r_forget])
    n, n_retain = len(task.retain) + len(task.forget), len(task.retain)

    def ridge_solution(g, r, samples):
        return -g @ torch.linalg.solve(g.T @ g + samples * ridge * torch.eye(g.shape[1],
                                       dtype=g.dtype), r)
    delta = ridge_solution(g_retain, r_retain, n_retain) - ridge_solution(g_all, r_all, n)
    before = torch.nn.utils.parameters_to_vector(model.parameters()).detach().double()
    result = ub.methods.unlearn("ntk", model, task, ridge=ridge, trapezium=False,
                                memory_gb=memory_gb)
    after = torch.nn.utils.parameters_to_vector(result.parameters()).detach().double()
    assert float(delta.norm()) > 1e-3  # the forget set does move the weights
    assert float((after - before - delta).norm()) < 1e-3 * float(delta.norm())  # float32 G
    assert result.unlearn_info["scale"] == 1.0


def test_trapezium_scale_on_known_angles():
    delta = torch.tensor([2.0, 0.0])
    assert trapezium_scale(delta, torch.tensor([0.0, 3.0])) == pytest.approx(1.0)   # orthogonal
    assert trapezium_scale(delta, torch.tensor([3.0, 0.0])) == pytest.approx(4.0)   # (2 + 2·3)/2
    # 135°: sin(135° − 90°) = √2/2, so (2 + 2·(√2/2)·√2)/2 = 2
    assert trapezium_scale(delta, torch.tensor([-1.0, 1.0])) == pytest.approx(2.0)
    assert trapezium_scale(delta, torch.zeros(2)) == 1.0


def test_ntk_refuses_large_scale_and_bad_ridge(tiny):
    task, model = tiny
    with pytest.raises(UnlearnbookError, match=r"max_columns=10\b"):
        ub.methods.unlearn("ntk", model, task, max_columns=10)
    with pytest.raises(UnlearnbookError, match="ridge"):
        ub.methods.unlearn("ntk", model, task, ridge=0.0)
    with pytest.raises(UnlearnbookError, match=r"retain_samples=1000 .*allowed: 1\.\.32"):
        ub.methods.unlearn("ntk", model, task, retain_samples=1000)


def test_ntk_raises_the_forget_loss_and_keeps_the_retain_loss(tiny):
    task, model = tiny
    out = ub.methods.unlearn("ntk", model, task)

    def loss(m, dataset):
        return float(torch.nn.functional.cross_entropy(*ub.metrics.predict(m, dataset)))
    forget_rise = loss(out, task.forget) - loss(model, task.forget)
    assert forget_rise > 0.01
    assert abs(loss(out, task.retain) - loss(model, task.retain)) < forget_rise / 3
    assert out.unlearn_info["scale"] != 1.0  # the trapezium trick applied


def test_ntk_retain_samples_draws_a_subset(tiny):
    task, model = tiny
    out = ub.methods.unlearn("ntk", model, task, retain_samples=10)
    assert out.unlearn_info["kernel_columns"] == (10 + len(task.forget)) * task.num_classes
