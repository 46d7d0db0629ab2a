"""PyTorch reference numbers for d2l 6.6 File I/O: the tensors d2l saves, and d2l's MLP (20 -> 256 -> 10) trained
briefly, its state_dict written with safetensors.torch.save_file to the committed file
experiments/ch6/ch6_6_file_io_mlp.safetensors (rewritten only when its bytes change), with the logits it
computes for a stored input."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn
from torch.nn import functional as F

from experiments.harness.torch_d2l import one_thread
from jaxdl.files import atomic_file

SEED, TRAIN_N, STEPS, LR = 66, 256, 20, 0.1
MLP_FILE = Path(__file__).with_name("ch6_6_file_io_mlp.safetensors")
METADATA = {"model": "d2l 6.6 MLP: hidden = LazyLinear(256), output = LazyLinear(10), relu between",
            "trained": f"{STEPS} SGD steps, lr {LR}, on {TRAIN_N} examples of a random teacher (seed {SEED})"}


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.LazyLinear(256)
        self.output = nn.LazyLinear(10)

    def forward(self, x):
        return self.output(F.relu(self.hidden(x)))


def trained_mlp() -> tuple[MLP, list[float]]:
    """d2l's MLP trained for a few full-batch SGD steps on a random linear teacher's labels."""
    torch.manual_seed(SEED)
    X = torch.randn(TRAIN_N, 20)
    y = (X @ torch.randn(20, 10)).argmax(dim=1)
    net = MLP()
    net(X)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    losses = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = F.cross_entropy(net(X), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return net, losses


def write_if_changed(path: Path, data: bytes) -> bool:
    """Writes data atomically unless the file already holds exactly these bytes."""
    if path.exists() and path.read_bytes() == data:
        return False
    with atomic_file(path, "wb") as f:
        f.write(data)
    return True


def file_io() -> dict[str, Any]:
    x, y = torch.arange(4), torch.zeros(4)
    net, losses = trained_mlp()
    state = {name: t.detach().contiguous() for name, t in net.state_dict().items()}
    data = safetensors.torch.save(state, metadata=METADATA)
    changed = write_if_changed(MLP_FILE, data)
    print(f"{MLP_FILE.name}: {'written' if changed else 'unchanged'} ({len(data)} bytes)")
    torch.manual_seed(SEED + 1)
    X = torch.randn(size=(2, 20))
    clone = MLP()
    clone.load_state_dict(safetensors.torch.load_file(str(MLP_FILE)))
    clone.eval()
    return {
        "x": {"values": x.numpy().copy(), "dtype": str(x.dtype).removeprefix("torch.")},
        "y": {"values": y.numpy().copy(), "dtype": str(y.dtype).removeprefix("torch.")},
        "mlp": {"file": MLP_FILE.name, "sha256": hashlib.sha256(data).hexdigest(), "metadata": METADATA,
                "state_dict_names": list(state), "shapes": {k: list(v.shape) for k, v in state.items()},
                "dtypes": {k: str(v.dtype).removeprefix("torch.") for k, v in state.items()},
                "train_losses": losses, "X": X.numpy().copy(), "logits": net(X).detach().numpy().copy(),
                "clone_equal": bool((clone(X) == net(X)).all())},
    }


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread); also writes
    experiments/ch6/ch6_6_file_io_mlp.safetensors."""
    with one_thread():
        return {"ch6_6_file_io": file_io()}
