"""PyTorch reference numbers for d2l 5.3 Forward propagation, backward propagation, and computational graphs, computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from experiments.harness.torch_d2l import one_thread


# 5.3: one small fixed problem, drawn by NumPy.
FB_SEED, FB_N, FB_D, FB_H, FB_Q, FB_LAMBDA = 53, 8, 20, 16, 5, 0.1


def forward_backward_problem() -> dict[str, np.ndarray]:
    """5.3's fixed problem from NumPy: X (n, d), labels y, W1 (h, d), W2 (q, h) in d2l's orientation."""
    rng = np.random.default_rng(FB_SEED)
    return {
        "X": rng.standard_normal((FB_N, FB_D)).astype(np.float32),
        "y": rng.integers(0, FB_Q, FB_N),
        "W1": (rng.standard_normal((FB_H, FB_D)) / np.sqrt(FB_D)).astype(np.float32),
        "W2": (rng.standard_normal((FB_Q, FB_H)) / np.sqrt(FB_H)).astype(np.float32),
    }


def forward_backward() -> dict[str, Any]:
    """d2l 5.3: z = W1 x, h = relu(z), o = W2 h, L = l(o, y), s = lambda/2 (|W1|^2 + |W2|^2), J = L + s;
    autograd's gradients of J w.r.t. W1, W2 and (retained) the intermediates."""
    p = forward_backward_problem()
    X, y = torch.from_numpy(p["X"]), torch.from_numpy(p["y"])
    W1 = torch.from_numpy(p["W1"]).requires_grad_(True)
    W2 = torch.from_numpy(p["W2"]).requires_grad_(True)
    z = X @ W1.T
    h = torch.relu(z)
    o = h @ W2.T
    L = F.cross_entropy(o, y)
    s = FB_LAMBDA / 2 * (torch.linalg.matrix_norm(W1) ** 2 + torch.linalg.matrix_norm(W2) ** 2)
    J = L + s
    for t in (z, h, o):
        t.retain_grad()
    J.backward()
    return {
        "lambda": FB_LAMBDA,
        "inputs": p,
        "forward": {"z": z.detach().numpy(), "h": h.detach().numpy(), "o": o.detach().numpy(),
                    "L": L.detach().numpy(), "s": s.detach().numpy(), "J": J.detach().numpy()},
        "grads": {"W1": W1.grad.numpy(), "W2": W2.grad.numpy(), "z": z.grad.numpy(), "h": h.grad.numpy(),
                  "o": o.grad.numpy()},
    }


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch5_3_forward_backward": forward_backward()}
