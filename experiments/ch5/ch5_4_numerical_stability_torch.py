"""PyTorch reference numbers for d2l 5.4 Numerical stability and initialisation (and its exercises)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

GRID = (-8.0, 8.0, 0.1)  # d2l: x = torch.arange(-8.0, 8.0, 0.1, requires_grad=True)

# d2l 5.4.1.2: M = torch.normal(0, 1, size=(4, 4)), then 100 more multiplications.
SIZE, NUM_PRODUCTS = 4, 100
PRODUCT_SEED = 54  # NumPy draws the matrices both libraries multiply
NUM_CHAINS = 400  # PyTorch's own draws, d2l's code once per torch seed 0..NUM_CHAINS-1

# Xavier: the first layer of d2l 5.2's MLP, nn.Linear(784, 256).weight, shape (256, 784).
XAVIER_SHAPE = (256, 784)
XAVIER_SEED = 0
QUANTILES = (0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999)

# Symmetry: an MLP 4 -> 5 (sigmoid) -> 3 whose first-layer weights all start at one constant (and whose
# hidden units all start with the same outgoing weights), trained by SGD on
# NumPy-drawn data; and the same MLP from a NumPy-drawn random init.
SYM_SEED, SYM_N, SYM_IN, SYM_HIDDEN, SYM_OUT = 5, 32, 4, 5, 3
SYM_CONSTANT, SYM_LR, SYM_STEPS = 0.3, 0.5, 30

# Exercise 2: linear and softmax regression from all-equal weights.
EX_SEED, EX_N, EX_IN, EX_CLASSES, EX_CONSTANT, EX_LR, EX_STEPS = 52, 64, 6, 4, 0.1, 0.1, 50


def sigmoid_gradient() -> dict[str, Any]:
    """d2l 5.4.1.1: sigmoid and its gradient by y.backward(torch.ones_like(x))."""
    x = torch.arange(*GRID, requires_grad=True)
    y = torch.sigmoid(x)
    y.backward(torch.ones_like(x))
    return {"x": x.detach().numpy(), "y": y.detach().numpy(), "grad": x.grad.numpy()}


def _norm(M: torch.Tensor) -> float:
    """Frobenius norm in float64: the float32 squares of entries near 1e24 would overflow."""
    return torch.linalg.norm(M.double()).item()


def product_of_matrices() -> dict[str, Any]:
    """d2l 5.4.1.2 on NumPy-drawn float32 matrices: the running product and its Frobenius norm after each step."""
    mats = np.random.default_rng(PRODUCT_SEED).standard_normal((NUM_PRODUCTS + 1, SIZE, SIZE)).astype(np.float32)
    M = torch.from_numpy(mats[0])
    norms = [_norm(M)]
    for i in range(NUM_PRODUCTS):
        M = M @ torch.from_numpy(mats[i + 1])
        norms.append(_norm(M))
    return {"seed": PRODUCT_SEED, "matrices": mats, "product": M.numpy(), "norms": np.array(norms)}


def own_draws() -> dict[str, Any]:
    """d2l's exact code with PyTorch's generator, once per seed: log10 of the final product's Frobenius norm."""
    logs = []
    for seed in range(NUM_CHAINS):
        torch.manual_seed(seed)
        M = torch.normal(0, 1, size=(SIZE, SIZE))
        for _ in range(NUM_PRODUCTS):
            M = M @ torch.normal(0, 1, size=(SIZE, SIZE))
        logs.append(np.log10(_norm(M)))
    logs = np.array(logs)
    return {"seeds": NUM_CHAINS, "log10_norm": logs, "mean": logs.mean(), "std": logs.std(ddof=1)}


def _statistics(w: torch.Tensor) -> dict[str, Any]:
    """Moments and quantiles of a weight matrix (float64 arithmetic)."""
    x = w.detach().double().flatten()
    centred = x - x.mean()
    m2, m4 = (centred**2).mean(), (centred**4).mean()
    return {
        "n": x.numel(),
        "mean": x.mean().item(),
        "var": x.var(unbiased=False).item(),
        "m4": m4.item(),
        "kurtosis": (m4 / m2**2).item(),
        "max_abs": x.abs().max().item(),
        "quantiles": torch.quantile(x, torch.tensor(QUANTILES, dtype=torch.float64)).numpy(),
    }


def xavier() -> dict[str, Any]:
    """torch.nn.init.xavier_uniform_ and xavier_normal_ on nn.Linear(784, 256).weight: the scales and draws."""
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(torch.empty(XAVIER_SHAPE))
    out: dict[str, Any] = {"shape": list(XAVIER_SHAPE), "fan_in": fan_in, "fan_out": fan_out,
                           "seed": XAVIER_SEED, "quantile_levels": QUANTILES}
    for name, init in (("uniform", nn.init.xavier_uniform_), ("normal", nn.init.xavier_normal_)):
        torch.manual_seed(XAVIER_SEED)
        out[name] = _statistics(init(torch.empty(XAVIER_SHAPE)))
    out["uniform_bound"] = float(np.sqrt(6.0 / (fan_in + fan_out)))
    out["normal_std"] = float(np.sqrt(2.0 / (fan_in + fan_out)))
    return out


def _mlp(first: np.ndarray, second: np.ndarray) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(SYM_IN, SYM_HIDDEN), nn.Sigmoid(), nn.Linear(SYM_HIDDEN, SYM_OUT))
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(first))
        net[2].weight.copy_(torch.from_numpy(second))
        net[0].bias.zero_()
        net[2].bias.zero_()
    return net


def _train(net: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module, lr: float, steps: int) -> dict:
    """Full-batch SGD: the loss before each step, the gradients of the first step, the final parameters."""
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    losses, first_grads = [], None
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        if first_grads is None:
            first_grads = {name: p.grad.numpy().copy() for name, p in net.named_parameters()}
        optimizer.step()
        losses.append(loss.item())
    return {
        "losses": np.array(losses, np.float32),
        "grads": first_grads,
        "params": {name: p.detach().numpy().copy() for name, p in net.named_parameters()},
    }


def symmetry() -> dict[str, Any]:
    """5.4.2.3's thought experiment run: all weights equal vs a random init, same data and SGD."""
    rng = np.random.default_rng(SYM_SEED)
    X = rng.standard_normal((SYM_N, SYM_IN)).astype(np.float32)
    y = rng.integers(0, SYM_OUT, SYM_N)
    random_first = (0.5 * rng.standard_normal((SYM_HIDDEN, SYM_IN))).astype(np.float32)
    random_second = (0.5 * rng.standard_normal((SYM_OUT, SYM_HIDDEN))).astype(np.float32)
    constant_first = np.full((SYM_HIDDEN, SYM_IN), SYM_CONSTANT, np.float32)
    # Equal columns: every hidden unit starts with the same outgoing weights. (All of W2 equal would make
    # the hidden layer's gradient zero outright, since softmax minus one-hot sums to zero over the outputs.)
    constant_second = np.repeat(rng.standard_normal((SYM_OUT, 1)), SYM_HIDDEN, axis=1).astype(np.float32)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    loss = nn.CrossEntropyLoss()
    return {
        "X": X, "y": y, "constant": SYM_CONSTANT, "lr": SYM_LR, "steps": SYM_STEPS,
        "random_init": {"0.weight": random_first, "2.weight": random_second},
        "constant_init": {"0.weight": constant_first, "2.weight": constant_second},
        "constant_run": _train(_mlp(constant_first, constant_second), Xt, yt, loss, SYM_LR, SYM_STEPS),
        "random_run": _train(_mlp(random_first, random_second), Xt, yt, loss, SYM_LR, SYM_STEPS),
    }


def equal_init_regressions() -> dict[str, Any]:
    """Exercise 2: linear and softmax regression with every weight starting at the same constant."""
    rng = np.random.default_rng(EX_SEED)
    X = rng.standard_normal((EX_N, EX_IN)).astype(np.float32)
    w_true = rng.standard_normal(EX_IN).astype(np.float32)
    y_lin = (X @ w_true + 0.1 * rng.standard_normal(EX_N)).astype(np.float32)
    y_cls = rng.integers(0, EX_CLASSES, EX_N)
    Xt = torch.from_numpy(X)
    runs = {}
    for name, outputs, y, loss in (("linear", 1, torch.from_numpy(y_lin)[:, None], nn.MSELoss()),
                                   ("softmax", EX_CLASSES, torch.from_numpy(y_cls), nn.CrossEntropyLoss())):
        net = nn.Linear(EX_IN, outputs)
        with torch.no_grad():
            net.weight.fill_(EX_CONSTANT)
            net.bias.zero_()
        runs[name] = _train(net, Xt, y, loss, EX_LR, EX_STEPS)
    return {"X": X, "y_linear": y_lin, "y_softmax": y_cls, "w_true": w_true, "constant": EX_CONSTANT,
            "lr": EX_LR, "steps": EX_STEPS, **runs}


def product_bounds() -> dict[str, Any]:
    """Exercise 3: singular values and eigenvalue magnitudes of consecutive pairs A, B of the NumPy matrices
    and of their product AB, and the condition number of the running product (float32, as d2l computes)."""
    mats = torch.from_numpy(product_of_matrices()["matrices"])
    A, B = mats[:-1], mats[1:]
    AB = A @ B
    running = [mats[0]]
    for M in mats[1:]:
        running.append(running[-1] @ M)
    sv = torch.linalg.svdvals(torch.stack(running).double())
    return {
        "svd_A": torch.linalg.svdvals(A).numpy(),
        "svd_B": torch.linalg.svdvals(B).numpy(),
        "svd_AB": torch.linalg.svdvals(AB).numpy(),
        "eig_abs_A": torch.linalg.eigvals(A).abs().numpy(),
        "eig_abs_B": torch.linalg.eigvals(B).abs().numpy(),
        "eig_abs_AB": torch.linalg.eigvals(AB).abs().numpy(),
        "log10_cond_running": torch.log10(sv[:, 0] / sv[:, -1]).numpy(),
    }


def generate() -> dict[str, dict]:
    """The 5.4 reference files: {file name: data}."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # fixed reductions, so regenerating gives identical files
    try:
        return {
            "ch5_4_numerical_stability": {
                "sigmoid": sigmoid_gradient(),
                "product": product_of_matrices(),
                "own_draws": own_draws(),
                "xavier": xavier(),
                "symmetry": symmetry(),
            },
            "ch5_4_numerical_stability_exercises": {"equal_init": equal_init_regressions(), "bounds": product_bounds()},
        }
    finally:
        torch.set_num_threads(threads)
