"""Update rules against PyTorch's published formulas, evaluated here with plain Python floats."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from mlp.optim import rules as optim

PARAM = [1.0, -2.0]
GRADS = [[0.1, -0.2], [0.3, 0.1], [-0.2, 0.4]]
MORE_GRADS = GRADS + [[0.05, -0.3], [0.25, 0.15]]
LR, MOMENTUM, ALPHA, BETA1, BETA2, EPS = 0.1, 0.9, 0.99, 0.9, 0.999, 1e-8
NAMES = ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "amsgrad"]
DECAYS = [0.0, 0.1]


def reference(name: str, weight_decay: float, grads: list[list[float]]) -> list[float]:
    """The parameters after ``len(grads)`` steps, element by element, as the PyTorch docs
    write the algorithms (first momentum step: ``buf = g``; Adam with bias-corrected
    ``m_hat``, ``v_hat``)."""
    result = []
    for i, p in enumerate(PARAM):
        buf = sq = m = v = v_max = 0.0
        for t, grad in enumerate(grads, start=1):
            g = grad[i]
            if name == "adamw":
                p = p - LR * weight_decay * p
            else:
                g = g + weight_decay * p
            if name == "sgd":
                p = p - LR * g
            elif name in ("momentum", "nesterov"):
                buf = g if t == 1 else MOMENTUM * buf + g
                p = p - LR * (g + MOMENTUM * buf if name == "nesterov" else buf)
            elif name == "rmsprop":
                sq = ALPHA * sq + (1 - ALPHA) * g * g
                p = p - LR * g / (math.sqrt(sq) + EPS)
            else:
                m = BETA1 * m + (1 - BETA1) * g
                v = BETA2 * v + (1 - BETA2) * g * g
                m_hat = m / (1 - BETA1**t)
                v_max = max(v_max, v)
                v_hat = (v_max if name == "amsgrad" else v) / (1 - BETA2**t)
                p = p - LR * m_hat / (math.sqrt(v_hat) + EPS)
        result.append(p)
    return result


def buffers(name: str, *arrays: np.ndarray) -> list[np.ndarray]:
    """The rule's state buffers in its order, from ``m``, ``v`` and ``v_max``."""
    named = dict(zip(("m", "v", "v_max"), arrays, strict=False))
    return [named[state] for state in optim.UPDATE_RULES.get(name).state]


def run(name: str, weight_decay: float, grads: list[list[float]], dtype: type
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply ``name`` for ``len(grads)`` steps; returns the parameters and the moments, and
    checks that no gradient was modified."""
    param = np.array(PARAM, dtype=dtype)
    m, v, scratch = np.zeros_like(param), np.zeros_like(param), np.empty_like(param)
    v_max = np.zeros_like(param)
    hp = optim.Hyperparameters(lr=LR, momentum=MOMENTUM, alpha=ALPHA, beta1=BETA1,
                               beta2=BETA2, eps=EPS, weight_decay=weight_decay)
    for step, values in enumerate(grads, start=1):
        grad = np.array(values, dtype=dtype)
        optim.apply_update(name, param, grad, *buffers(name, m, v, v_max), step=step, hp=hp,
                           scratch=scratch)
        np.testing.assert_array_equal(grad, np.array(values, dtype=dtype))
    return param, m, v


@pytest.mark.parametrize("weight_decay", DECAYS)
@pytest.mark.parametrize("name", NAMES)
def test_three_steps_match_pytorch_formulas(name: str, weight_decay: float) -> None:
    param, _, _ = run(name, weight_decay, GRADS, np.float64)
    assert param.dtype == np.float64
    np.testing.assert_allclose(param, reference(name, weight_decay, GRADS), rtol=1e-12,
                               atol=0)


@pytest.mark.parametrize("weight_decay", DECAYS)
@pytest.mark.parametrize("name", NAMES)
def test_float32_stays_float32(name: str, weight_decay: float) -> None:
    param, m, v = run(name, weight_decay, GRADS, np.float32)
    assert param.dtype == m.dtype == v.dtype == np.float32
    np.testing.assert_allclose(param, reference(name, weight_decay, GRADS), rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_unused_buffers_are_untouched(name: str) -> None:
    _, m, v = run(name, 0.1, GRADS, np.float64)
    assert np.any(m != 0) == (name not in ("sgd", "rmsprop"))
    assert np.any(v != 0) == (name in ("rmsprop", "adam", "adamw", "amsgrad"))


def test_rules_called_directly_match_apply_update() -> None:
    param = np.array(PARAM)
    grad = np.array(GRADS[0])
    scratch = np.empty_like(param)
    optim.sgd(param, grad, lr=LR, weight_decay=0.1, scratch=scratch)
    np.testing.assert_allclose(param, reference("sgd", 0.1, GRADS[:1]), rtol=1e-12)
    param, buf = np.array(PARAM), np.zeros(2)
    optim.sgd(param, grad, buf, lr=LR, momentum=MOMENTUM, nesterov=True, scratch=scratch)
    np.testing.assert_allclose(param, reference("nesterov", 0.0, GRADS[:1]), rtol=1e-12)
    param, sq = np.array(PARAM), np.zeros(2)
    optim.rmsprop(param, grad, sq, lr=LR, alpha=ALPHA, eps=EPS, scratch=scratch)
    np.testing.assert_allclose(param, reference("rmsprop", 0.0, GRADS[:1]), rtol=1e-12)
    for name, flags in (("adam", {}), ("adamw", {"decoupled": True}),
                        ("amsgrad", {"amsgrad": True})):
        param, m, v, v_max = np.array(PARAM), np.zeros(2), np.zeros(2), np.zeros(2)
        optim.adam(param, grad, m, v, v_max, step=1, lr=LR, beta1=BETA1, beta2=BETA2,
                   eps=EPS, weight_decay=0.1, scratch=scratch, **flags)
        np.testing.assert_allclose(param, reference(name, 0.1, GRADS[:1]), rtol=1e-12)
    with pytest.raises(ValueError, match="v_max"):
        optim.adam(param, grad, m, v, step=1, lr=LR, beta1=BETA1, beta2=BETA2, eps=EPS,
                   amsgrad=True, scratch=scratch)


def test_rmsprop_with_decay_and_zero_lr_only_updates_the_average() -> None:
    param, sq, grad = np.array(PARAM), np.zeros(2), np.array(GRADS[0])
    optim.rmsprop(param, grad, sq, lr=0.0, alpha=ALPHA, eps=EPS, weight_decay=0.1,
                  scratch=np.empty(2))
    np.testing.assert_array_equal(param, PARAM)
    expected = [(1 - ALPHA) * (g + 0.1 * p) ** 2 for g, p in zip(GRADS[0], PARAM, strict=True)]
    np.testing.assert_allclose(sq, expected, rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_updates_allocate_nothing(name: str) -> None:
    param = np.linspace(-1.0, 1.0, 10_000)
    grad = np.cos(param)
    state = buffers(name, *(np.zeros_like(param) for _ in range(3)))
    scratch = np.empty_like(param)
    hp = optim.Hyperparameters(lr=0.01, weight_decay=0.01)
    optim.apply_update(name, param, grad, *state, step=1, hp=hp, scratch=scratch)
    tracemalloc.start()
    try:
        optim.apply_update(name, param, grad, *state, step=2, hp=hp, scratch=scratch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < param.nbytes // 10


def test_bad_name_and_step_raise() -> None:
    param, grad = np.array(PARAM), np.array(GRADS[0])
    hp = optim.Hyperparameters(lr=LR)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        optim.apply_update("lbfgs", param, grad, np.zeros(2), np.zeros(2), step=1, hp=hp,
                           scratch=np.empty(2))
    with pytest.raises(ValueError, match="keeps 2 state buffer"):
        optim.apply_update("adam", param, grad, np.zeros(2), step=1, hp=hp,
                           scratch=np.empty(2))
    with pytest.raises(ValueError, match="from 1"):
        optim.apply_update("adam", param, grad, np.zeros(2), np.zeros(2), step=0, hp=hp,
                           scratch=np.empty(2))


def test_hyperparameters_defaults_and_mutable_lr() -> None:
    hp = optim.Hyperparameters(lr=0.1)
    assert (hp.momentum, hp.alpha, hp.beta1, hp.beta2, hp.eps, hp.weight_decay) == (
        0.9, 0.99, 0.9, 0.999, 1e-8, 0.0)
    hp.lr = 0.05
    assert hp.lr == 0.05


def _clip_inputs(dtype: type) -> tuple[list[np.ndarray], float]:
    values = [[[0.5, -1.5, 2.0], [0.25, 3.0, -0.75]], [1.0, -2.0, 0.125, 4.0]]
    norm = math.sqrt(sum(x * x for x in (*values[0][0], *values[0][1], *values[1])))
    return [np.array(x, dtype=dtype) for x in values], norm


def test_clip_grad_norm_returns_the_norm_without_clipping() -> None:
    grads, norm = _clip_inputs(np.float64)
    before = [g.copy() for g in grads]
    assert optim.clip_grad_norm(grads, None) == pytest.approx(norm, rel=1e-15)
    assert optim.clip_grad_norm(grads, norm + 1.0) == pytest.approx(norm, rel=1e-15)
    for g, b in zip(grads, before, strict=True):
        np.testing.assert_array_equal(g, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_norm_scales_in_place(dtype: type) -> None:
    grads, norm = _clip_inputs(dtype)
    before = [g.astype(np.float64) for g in grads]
    assert optim.clip_grad_norm(grads, 1.5) == pytest.approx(norm, rel=1e-12)
    coef = 1.5 / (norm + 1e-6)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    for g, b in zip(grads, before, strict=True):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, b * coef, rtol=rtol)
    assert optim.clip_grad_norm(grads, None) == pytest.approx(1.5, rel=1e-6)


@pytest.mark.parametrize("weight_decay", DECAYS)
@pytest.mark.parametrize("name", NAMES)
def test_five_steps_match_torch(name: str, weight_decay: float) -> None:
    torch = pytest.importorskip("torch")
    tensor = torch.tensor(PARAM, dtype=torch.float64, requires_grad=True)
    makers = {
        "sgd": lambda: torch.optim.SGD([tensor], lr=LR, weight_decay=weight_decay),
        "momentum": lambda: torch.optim.SGD([tensor], lr=LR, momentum=MOMENTUM,
                                            weight_decay=weight_decay),
        "nesterov": lambda: torch.optim.SGD([tensor], lr=LR, momentum=MOMENTUM,
                                            nesterov=True, weight_decay=weight_decay),
        "rmsprop": lambda: torch.optim.RMSprop([tensor], lr=LR, alpha=ALPHA, eps=EPS,
                                               weight_decay=weight_decay),
        "adam": lambda: torch.optim.Adam([tensor], lr=LR, betas=(BETA1, BETA2), eps=EPS,
                                         weight_decay=weight_decay),
        "adamw": lambda: torch.optim.AdamW([tensor], lr=LR, betas=(BETA1, BETA2), eps=EPS,
                                           weight_decay=weight_decay),
        "amsgrad": lambda: torch.optim.Adam([tensor], lr=LR, betas=(BETA1, BETA2), eps=EPS,
                                            weight_decay=weight_decay, amsgrad=True),
    }
    optimizer = makers[name]()
    for values in MORE_GRADS:
        tensor.grad = torch.tensor(values, dtype=torch.float64)
        optimizer.step()
    param, _, _ = run(name, weight_decay, MORE_GRADS, np.float64)
    np.testing.assert_allclose(param, tensor.detach().numpy(), rtol=1e-12, atol=0)


def test_amsgrad_keeps_the_largest_second_moment_as_torch_does() -> None:
    """A large gradient, then small ones: the second moment falls, its maximum does not."""
    grads = [[3.0, -2.0], [0.01, 0.02], [0.0, -0.01], [0.02, 0.0]]
    param, _, v = run("amsgrad", 0.0, grads, np.float64)
    np.testing.assert_allclose(param, reference("amsgrad", 0.0, grads), rtol=1e-12, atol=0)
    assert not np.allclose(param, reference("adam", 0.0, grads), rtol=1e-6)
    torch = pytest.importorskip("torch")
    tensor = torch.tensor(PARAM, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([tensor], lr=LR, betas=(0.5, 0.5), eps=EPS, amsgrad=True)
    ours = np.array(PARAM)
    state = [np.zeros(2) for _ in range(3)]
    hp = optim.Hyperparameters(lr=LR, beta1=0.5, beta2=0.5, eps=EPS)
    for step, values in enumerate(grads, start=1):
        tensor.grad = torch.tensor(values, dtype=torch.float64)
        optimizer.step()
        optim.apply_update("amsgrad", ours, np.array(values), *state, step=step, hp=hp,
                           scratch=np.empty(2))
    assert (state[2] > state[1]).any()  # the maximum is no longer the moment
    np.testing.assert_allclose(ours, tensor.detach().numpy(), rtol=1e-12, atol=0)
