"""A small numpy multilayer perceptron with per-sample gradients and per-sample (layer-block) Hessians.

f(x) = W_L σ(W_{L−1} ⋯ σ(W_1 x + b_1) ⋯ + b_{L−1}) + b_L with σ = ReLU (biases optional). Losses, per sample:
``mse`` ℓ = ½‖f − y‖² (y one-hot), ``softmax_mse`` ℓ = ½‖π − y‖², ``ce`` ℓ = −log π_y, π = softmax(f);
L = (1/P) Σ_p ℓ_p. Weights are one flat vector: the layers in order, each W_l row-major then b_l. Labels are
integer classes 0..K−1.

Per-sample Hessian of one layer's weight block (``curv.per_sample_hessians``): the map W_l ↦ f is piecewise
linear for a ReLU network, so almost everywhere h_p = J_pᵀ G_p J_p exactly, with G_p = ∇²_f ℓ_p (I, diag π − ππᵀ,
or the softmax+MSE form including its residual term) and J_p = ∂f/∂vec(W_l) = M_p ⊗ a_pᵀ, M_p = ∂f/∂z_l
(z_l the layer's pre-activation, a_p its input). Hence h_p = (M_pᵀG_pM_p) ⊗ a_pa_pᵀ = A_p ⊗ a_pa_pᵀ and
h_p² = A_p² ⊗ ‖a_p‖² a_pa_pᵀ; the means over samples H and E_p[h_p²] are formed from these Kronecker factors
without storing P dense matrices. Only the weight block (not the bias) of a layer is analysed.

:class:`MLP` follows the replica engine's model protocol (``n_params``, ``minibatch_gradient``,
``per_sample_gradients``) with y the integer labels; :func:`train_sgd` is plain minibatch SGD on one model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numerics.errors import DivergenceError, ParameterError, require_choice, require_int_in_range, require_positive
from numerics.engine.progress import bar as progress_bar
from numerics.engine.rng import as_generator

LOSSES = ("mse", "softmax_mse", "ce")


def _softmax(f: np.ndarray) -> np.ndarray:
    e = np.exp(f - f.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def output_hessian(f: np.ndarray, y_onehot: np.ndarray, loss: str) -> np.ndarray:
    """G_p = ∇²_f ℓ_p, shape (..., K, K) (``curv.per_sample_hessians``): I for ``mse``; diag π − ππᵀ for ``ce``;
    J_π² + Σ_k (π_k − y_k) ∇²π_k for ``softmax_mse`` with ∂²π_k/∂f_i∂f_j = π_k[(δ_ki − π_i)(δ_kj − π_j) −
    π_i(δ_ij − π_j)]."""
    require_choice("loss", loss, LOSSES)
    K = f.shape[-1]
    eye = np.eye(K)
    if loss == "mse":
        return np.broadcast_to(eye, f.shape + (K,)).copy()
    pi = _softmax(f)
    J = pi[..., :, None] * eye - pi[..., :, None] * pi[..., None, :]
    if loss == "ce":
        return J
    r = pi - y_onehot
    D = eye - pi[..., None, :]                        # D[k, i] = δ_ki − π_i
    rp = r * pi                                        # (π_k − y_k) π_k
    first = np.einsum("...k,...ki,...kj->...ij", rp, D, D)
    second = rp.sum(-1)[..., None, None] * (pi[..., :, None] * (eye - pi[..., None, :]))
    return J @ J + first - second


@dataclass(frozen=True)
class _Forward:
    inputs: list          # a_0 = x, a_1, ..., a_{L-1}: inputs of each layer, (P, n_l)
    pre: list             # z_1, ..., z_L, (P, m_l); z_L = f


class MLP:
    """ReLU MLP with layer widths ``widths = (n_in, h_1, ..., n_out)``, loss in ``mse | softmax_mse | ce``.

    Layer indices run 0..L−1 (layer l maps widths[l] → widths[l+1]). ``bias=False`` (default, as in the
    paper's networks) has no biases.
    """

    def __init__(self, widths, loss: str = "ce", bias: bool = False):
        widths = tuple(int(require_int_in_range("width", w, 1)) for w in widths)
        if len(widths) < 2:
            raise ParameterError(f"widths needs at least input and output sizes, got {widths}")
        if widths[-1] < 2 and loss != "mse":
            raise ParameterError(f"loss {loss!r} needs at least 2 outputs, got {widths[-1]}")
        self.widths, self.loss_name, self.bias = widths, require_choice("loss", loss, LOSSES), bool(bias)
        self._slices, start = [], 0
        for m_in, m_out in zip(widths[:-1], widths[1:]):
            w = slice(start, start + m_out * m_in)
            start = w.stop
            b = slice(start, start + (m_out if bias else 0))
            start = b.stop
            self._slices.append((w, b))
        self.n_params = start
        self.n_layers = len(widths) - 1

    # ------------------------------------------------------------------ parameters
    def layer_slice(self, layer: int) -> slice:
        """Positions of layer ``layer``'s weight matrix (row-major) in the flat parameter vector."""
        return self._slices[self._layer(layer)][0]

    def _layer(self, layer: int) -> int:
        return require_int_in_range("layer", layer, 0, self.n_layers - 1)

    def unpack(self, w: np.ndarray):
        """[(W_l (m_out, m_in), b_l (m_out,) or None)] for a flat w (n_params,)."""
        w = np.asarray(w, dtype=float)
        if w.shape != (self.n_params,):
            raise ParameterError(f"w must have shape ({self.n_params},), got {w.shape}")
        out = []
        for (ws, bs), m_in, m_out in zip(self._slices, self.widths[:-1], self.widths[1:]):
            out.append((w[ws].reshape(m_out, m_in), w[bs] if self.bias else None))
        return out

    def init(self, seed=None) -> np.ndarray:
        """He-normal weights N(0, 2/fan_in) (N(0, 1/fan_in) for the last layer), zero biases."""
        rng = as_generator(seed)
        w = np.zeros(self.n_params)
        for l, ((ws, _), m_in) in enumerate(zip(self._slices, self.widths[:-1])):
            gain = 1.0 if l == self.n_layers - 1 else 2.0
            w[ws] = rng.standard_normal(ws.stop - ws.start) * np.sqrt(gain / m_in)
        return w

    # ------------------------------------------------------------------ forward / loss
    def onehot(self, y) -> np.ndarray:
        y = np.asarray(y)
        K = self.widths[-1]
        if not np.issubdtype(y.dtype, np.integer):
            if not np.all(y == np.round(y)):
                raise ParameterError("labels must be integer classes 0..K-1")
            y = y.astype(int)
        if y.size and (y.min() < 0 or y.max() >= K):
            raise ParameterError(f"labels must lie in 0..{K - 1}")
        return np.eye(K)[y]

    def _forward(self, w, X) -> _Forward:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.widths[0]:
            raise ParameterError(f"X must have shape (P, {self.widths[0]}), got {X.shape}")
        inputs, pre, a = [], [], X
        for l, (W, b) in enumerate(self.unpack(w)):
            inputs.append(a)
            z = a @ W.T + (b if b is not None else 0.0)
            pre.append(z)
            a = np.maximum(z, 0.0) if l < self.n_layers - 1 else z
        return _Forward(inputs, pre)

    def output(self, w, X) -> np.ndarray:
        """Network output f (logits), (P, K)."""
        return self._forward(w, X).pre[-1]

    def per_sample_loss(self, w, X, y) -> np.ndarray:
        f, Y = self.output(w, X), self.onehot(y)
        if self.loss_name == "mse":
            return 0.5 * np.sum((f - Y) ** 2, axis=1)
        if self.loss_name == "softmax_mse":
            return 0.5 * np.sum((_softmax(f) - Y) ** 2, axis=1)
        logz = np.log(np.sum(np.exp(f - f.max(1, keepdims=True)), axis=1)) + f.max(1)
        return logz - np.sum(f * Y, axis=1)

    def loss(self, w, X, y) -> float:
        """L = (1/P) Σ_p ℓ_p."""
        return float(np.mean(self.per_sample_loss(w, X, y)))

    def accuracy(self, w, X, y) -> float:
        return float(np.mean(np.argmax(self.output(w, X), axis=1) == np.asarray(y)))

    def _output_gradient(self, f, Y) -> np.ndarray:
        """∂ℓ_p/∂f, (P, K)."""
        if self.loss_name == "mse":
            return f - Y
        pi = _softmax(f)
        if self.loss_name == "ce":
            return pi - Y
        r = pi - Y
        return pi * (r - np.sum(r * pi, axis=1, keepdims=True))  # J_π r

    # ------------------------------------------------------------------ gradients
    def _backprop(self, w, fw: _Forward, top: np.ndarray):
        """Backpropagate ``top`` = ∂(·)/∂f of shape (P, ..., K) to every layer's pre-activation: list of (P, ..., m_l)."""
        layers = self.unpack(w)
        deltas = [None] * self.n_layers
        d = top
        for l in range(self.n_layers - 1, -1, -1):
            deltas[l] = d
            if l:
                mask = (fw.pre[l - 1] > 0).astype(float)
                mask = mask.reshape(mask.shape[:1] + (1,) * (d.ndim - 2) + mask.shape[1:])
                d = (d @ layers[l][0]) * mask
        return deltas

    def per_sample_gradients(self, w, X, y, layer: int | None = None) -> np.ndarray:
        """g_p = ∇ℓ_p: (P, n_params), or (P, m_out·m_in) for one layer's weight block (row-major)."""
        fw = self._forward(w, X)
        deltas = self._backprop(w, fw, self._output_gradient(fw.pre[-1], self.onehot(y)))
        if layer is not None:
            l = self._layer(layer)
            return np.einsum("pi,pj->pij", deltas[l], fw.inputs[l]).reshape(len(X), -1)
        P = len(X)
        out = np.empty((P, self.n_params))
        for l, (ws, bs) in enumerate(self._slices):
            out[:, ws] = np.einsum("pi,pj->pij", deltas[l], fw.inputs[l]).reshape(P, -1)
            if self.bias:
                out[:, bs] = deltas[l]
        return out

    def gradient(self, w, X, y) -> np.ndarray:
        """∇L = mean of the per-sample gradients (computed without storing them)."""
        fw = self._forward(w, X)
        deltas = self._backprop(w, fw, self._output_gradient(fw.pre[-1], self.onehot(y)))
        out = np.empty(self.n_params)
        for l, (ws, bs) in enumerate(self._slices):
            out[ws] = (deltas[l].T @ fw.inputs[l]).ravel() / len(X)
            if self.bias:
                out[bs] = deltas[l].mean(axis=0)
        return out

    def minibatch_gradient(self, w, X, y) -> np.ndarray:
        """Engine protocol: w (R, n), X (R, B, N), y (R, B) → minibatch-mean gradients (R, n)."""
        w = np.asarray(w, dtype=float)
        return np.stack([self.gradient(w[r], X[r], y[r]) for r in range(w.shape[0])])

    # ------------------------------------------------------------------ curvature
    def kronecker_factors(self, w, X, y, layer: int):
        """(A_p, a_p) with h_p = A_p ⊗ a_pa_pᵀ the per-sample Hessian of layer ``layer``'s weight block:
        A_p = M_pᵀ G_p M_p (P, m_out, m_out), M_p = ∂f/∂z_l; a_p the layer input (P, m_in). Exact a.e. for ReLU."""
        l = self._layer(layer)
        fw = self._forward(w, X)
        K = self.widths[-1]
        eye = np.broadcast_to(np.eye(K), (len(X), K, K))
        M = self._backprop(w, fw, eye)[l]              # (P, K, m_out): ∂f_k/∂z_l
        G = output_hessian(fw.pre[-1], self.onehot(y), self.loss_name)
        A = np.einsum("pki,pkj,pjm->pim", M, G, M, optimize=True)
        return A, fw.inputs[l]

    def per_sample_hessians(self, w, X, y, layer: int) -> np.ndarray:
        """Dense per-sample Hessians h_p (P, n_l, n_l) of one layer's weight block, n_l = m_out·m_in (small P only)."""
        A, a = self.kronecker_factors(w, X, y, layer)
        P, m = A.shape[0], A.shape[1]
        n = a.shape[1]
        return np.einsum("pik,pj,pl->pijkl", A, a, a).reshape(P, m * n, m * n)


def curvature_moments(A: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """H = E_p[h_p] and E_p[h_p²] from the Kronecker factors h_p = A_p ⊗ a_pa_pᵀ (h_p² = A_p² ⊗ ‖a_p‖²a_pa_pᵀ)."""
    P, m, n = A.shape[0], A.shape[1], a.shape[1]

    def mean_kron(left, right):
        out = left.reshape(P, m * m).T @ right.reshape(P, n * n) / P        # [(i,k), (j,l)]
        return out.reshape(m, m, n, n).transpose(0, 2, 1, 3).reshape(m * n, m * n)

    aa = a[:, :, None] * a[:, None, :]
    return mean_kron(A, aa), mean_kron(A @ A, np.sum(a * a, axis=1)[:, None, None] * aa)


def train_sgd(model: MLP, X, y, *, eta: float, batch_size: int, n_epochs: int, w0=None, seed=None,
              sampling: str = "epoch") -> np.ndarray:
    """Plain minibatch SGD w ← w − η ĝ on one model: ``epoch`` (random reshuffling, P // B minibatches per epoch)
    or ``with_replacement``. Returns the final weights; DivergenceError on non-finite weights."""
    eta = require_positive("eta", eta)
    X, y = np.asarray(X, dtype=float), np.asarray(y)
    P = len(X)
    B = require_int_in_range("batch_size", batch_size, 1, P)
    require_int_in_range("n_epochs", n_epochs, 0)
    require_choice("sampling", sampling, ("epoch", "with_replacement"))
    rng = as_generator(seed)
    w = model.init(rng) if w0 is None else np.array(w0, dtype=float)
    with progress_bar(n_epochs, f"MLP SGD eta={eta:.3g}", unit="epoch") as bar:
        for epoch in range(n_epochs):
            order = rng.permutation(P) if sampling == "epoch" else rng.integers(0, P, size=P)
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected below, once per epoch
                for k in range(P // B):
                    idx = order[k * B:(k + 1) * B]
                    w -= eta * model.gradient(w, X[idx], y[idx])
            if not np.all(np.isfinite(w)):
                raise DivergenceError(f"SGD diverged in epoch {epoch} (eta = {eta})", step=epoch, eta=eta, partial=None)
            bar.update()
    return w


def load_digits_data(n_classes: int = 10, standardise: bool = True):
    """scikit-learn's digits (8×8 images, 1 797 samples, shipped with scikit-learn, no download), restricted to
    classes 0..n_classes−1; pixels scaled to [0, 1] and, with ``standardise``, centred per pixel and scaled to unit
    overall standard deviation. Returns (X (P, 64), y (P,) int)."""
    require_int_in_range("n_classes", n_classes, 2, 10)
    from sklearn.datasets import load_digits  # imported on use: scikit-learn takes a second to import
    data = load_digits()
    keep = data.target < n_classes
    X, y = data.data[keep] / 16.0, data.target[keep].astype(int)
    if standardise:
        X = X - X.mean(axis=0)
        X /= X.std()
    return X, y
