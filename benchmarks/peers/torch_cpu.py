"""Peer: PyTorch on CPU (float64), one batched step at a time: gather + bmm, under ``torch.no_grad``."""

from __future__ import annotations

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

NAME = "PyTorch CPU"
MISSING = None if torch is not None else "torch not installed (extra 'bench')"


def make(X, y, eta, B, R, n_steps, seed=0):
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    gen = torch.Generator().manual_seed(seed)

    def run():
        with torch.no_grad():
            w = torch.zeros(R, X.shape[1], dtype=torch.float64)
            for _ in range(n_steps):
                idx = torch.randint(0, X.shape[0], (R, B), generator=gen)
                Xb = Xt[idx]
                res = torch.bmm(Xb, w.unsqueeze(2)).squeeze(2) - yt[idx]
                w -= (eta / B) * torch.bmm(res.unsqueeze(1), Xb).squeeze(1)
        return w.numpy()

    return run
