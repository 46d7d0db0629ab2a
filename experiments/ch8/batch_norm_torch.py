"""d2l 8.5's batch normalisation in PyTorch as d2l 1.0.3 writes it: the from-scratch batch_norm function and
BatchNorm module, the concise BNLeNet, its replay from NumPy draws and its book run. A support module of the
generator (it imports torch), not an experiment."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from experiments.harness import torch_d2l

BATCH_SIZE, LR, EPOCHS = 128, 0.1, 10
STEP_LR = 0.1  # the SGD step of gamma and beta in the stand-alone batch-norm steps


def batch_norm(X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, moving_mean: torch.Tensor,
               moving_var: torch.Tensor, eps: float, momentum: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """d2l 8.5's from-scratch batch_norm (PyTorch tab): training mode while gradients are enabled, the biased batch
    variance for both the normalisation and the moving variance."""
    if not torch.is_grad_enabled():
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
        moving_var = (1.0 - momentum) * moving_var + momentum * var
    Y = gamma * X_hat + beta
    return Y, moving_mean.data, moving_var.data


def bn_steps(draws: dict[str, Any], kind: str) -> dict[str, Any]:
    """Stand-alone batch-norm steps: for each (X, G), Y = BN(X) in training mode, the gradients of sum(Y * G) with
    respect to gamma, beta and X, the running statistics after the step, then an SGD step (STEP_LR) on gamma and
    beta; finally Y of X_eval in evaluation mode. kind "scratch": d2l's batch_norm function (moving statistics
    from 0 and 1, eps 1e-5, momentum 0.1); "module": nn.BatchNorm1d/2d."""
    shape = draws["X"][0].shape
    C = shape[1]
    bshape = (1, C) if len(shape) == 2 else (1, C, 1, 1)
    if kind == "module":
        layer = nn.BatchNorm1d(C) if len(shape) == 2 else nn.BatchNorm2d(C)
        gamma, beta = layer.weight, layer.bias
    else:
        gamma, beta = nn.Parameter(torch.ones(bshape)), nn.Parameter(torch.zeros(bshape))
        mm, mv = torch.zeros(bshape), torch.ones(bshape)
    steps = []
    for X_np, G_np in zip(draws["X"], draws["G"]):
        X = torch.from_numpy(X_np).requires_grad_(True)
        if kind == "module":
            layer.train()
            Y = layer(X)
        else:
            Y, mm, mv = batch_norm(X, gamma, beta, mm, mv, eps=1e-5, momentum=0.1)
        (Y * torch.from_numpy(G_np)).sum().backward()
        mean, var = (layer.running_mean, layer.running_var) if kind == "module" else (mm, mv)
        steps.append({"Y": Y.detach().numpy().copy(), "grad_gamma": gamma.grad.numpy().reshape(-1).copy(),
                      "grad_beta": beta.grad.numpy().reshape(-1).copy(), "grad_X": X.grad.numpy().copy(),
                      "running_mean": mean.detach().numpy().reshape(-1).copy(),
                      "running_var": var.detach().numpy().reshape(-1).copy()})
        with torch.no_grad():
            gamma -= STEP_LR * gamma.grad
            beta -= STEP_LR * beta.grad
            gamma.grad, beta.grad = None, None
    with torch.no_grad():
        if kind == "module":
            layer.eval()
            Y_eval = layer(torch.from_numpy(draws["X_eval"]))
        else:
            Y_eval, _, _ = batch_norm(torch.from_numpy(draws["X_eval"]), gamma, beta, mm, mv, eps=1e-5, momentum=0.1)
    return {"steps": steps, "Y_eval": Y_eval.numpy().copy(), "gamma": gamma.detach().numpy().reshape(-1).copy(),
            "beta": beta.detach().numpy().reshape(-1).copy()}


def bn_lenet(num_classes: int = 10) -> nn.Sequential:
    """d2l 8.5's concise BNLeNet (lazy layers)."""
    return nn.Sequential(
        nn.LazyConv2d(6, kernel_size=5), nn.LazyBatchNorm2d(), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.LazyConv2d(16, kernel_size=5), nn.LazyBatchNorm2d(), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.LazyLinear(120), nn.LazyBatchNorm1d(), nn.Sigmoid(),
        nn.LazyLinear(84), nn.LazyBatchNorm1d(), nn.Sigmoid(), nn.LazyLinear(num_classes))


def weighted(net: nn.Sequential) -> list[nn.Module]:
    """The convolutions and dense layers, in order."""
    return [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]


def norms(net: nn.Sequential) -> list[nn.Module]:
    """The BatchNorm layers, in order."""
    return [m for m in net if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def summary(W: np.ndarray) -> dict[str, Any]:
    """A weight as the replay stores it: norm and sum (float64) and the first 8 x 8 of its (out, in * kh * kw) matrix."""
    M = W.reshape(W.shape[0], -1)
    return {"norm": float(np.linalg.norm(M.astype(np.float64))), "sum": float(M.astype(np.float64).sum()),
            "head": M[:8, :8]}


def replay(images: np.ndarray, labels: np.ndarray, val_images: np.ndarray, val_labels: np.ndarray,
           init: list[tuple[np.ndarray, np.ndarray]], orders: list[np.ndarray], dtype: torch.dtype) -> dict[str, Any]:
    """Trains BNLeNet from NumPy initial layers on uint8 images in the given minibatch orders (SGD, lr 0.1, batch
    128; the last minibatch of an epoch is the smaller remainder): every step's loss, the final weighted layers, every
    BatchNorm layer's gamma, beta and running statistics, and the validation loss and accuracy in evaluation mode."""
    npdtype = np.float64 if dtype == torch.float64 else np.float32
    to_x = lambda a: (torch.from_numpy(a.astype(npdtype)) / 255)[:, None]  # noqa: E731
    X, y = to_x(images), torch.from_numpy(labels.astype(np.int64))
    model = bn_lenet()
    model(X[:2].float())
    model = model.to(dtype)
    with torch.no_grad():
        for m, (W, b) in zip(weighted(model), init):
            m.weight.copy_(torch.from_numpy(W))
            m.bias.copy_(torch.from_numpy(b))
        for m in norms(model):  # a fresh layer's statistics: the lazy first forward above moved them
            m.reset_running_stats()
    optim = torch.optim.SGD(model.parameters(), lr=LR)
    steps = []
    model.train()
    for order in orders:
        for start in range(0, len(order), BATCH_SIZE):
            rows = torch.from_numpy(order[start:start + BATCH_SIZE])
            loss = F.cross_entropy(model(X[rows]), y[rows])
            optim.zero_grad()
            loss.backward()
            optim.step()
            steps.append(loss.item())
    model.eval()
    out: dict[str, Any] = {
        "step_losses": np.array(steps),
        "final": [{"W": summary(m.weight.detach().numpy()), "b": m.bias.detach().numpy().copy()} for m in weighted(model)],
        "norms": [{"gamma": m.weight.detach().numpy().copy(), "beta": m.bias.detach().numpy().copy(),
                   "running_mean": m.running_mean.numpy().copy(), "running_var": m.running_var.numpy().copy()}
                  for m in norms(model)]}
    with torch.no_grad():
        Y_hat = model(to_x(val_images))
        yv = torch.from_numpy(val_labels.astype(np.int64))
        out["val_loss"] = float(F.cross_entropy(Y_hat, yv))
        out["val_acc"] = float((Y_hat.argmax(axis=1) == yv).double().mean())
    return out


def book_run(data: dict[str, torch.Tensor], seed: int, epochs: int = EPOCHS) -> dict[str, Any]:
    """One run of d2l 8.5's concise BNLeNet (lr 0.1, batch 128) through d2l's Trainer (torch_d2l.book_run), with the
    first BatchNorm layer's learned scale and shift."""

    def progress(record: dict[str, Any]) -> None:
        print(f"seed {seed} epoch {len(record['val_acc'])}: val acc {record['val_acc'][-1]:.4f}", flush=True)

    record, model = torch_d2l.book_run(bn_lenet, data, seed, batch_size=BATCH_SIZE, lr=LR, epochs=epochs,
                                       record={"seed": seed}, on_epoch=progress)
    record["first_bn"] = {"gamma": model[1].weight.detach().numpy().copy(), "beta": model[1].bias.detach().numpy().copy()}
    return record
