"""Shared by the tests: moving arrays to and from MLX, and tolerances from error bounds."""

import math
import sys
import threading
import time

import ml_dtypes
import numpy as np

from qlinear import nn

# Unit roundoff of each float type: half the distance from 1 to the next number.
UNIT_ROUNDOFF = {
    np.dtype(np.float32): 2.0**-24,
    np.dtype(np.float16): 2.0**-11,
    np.dtype(ml_dtypes.bfloat16): 2.0**-8,
}

FLOAT_DTYPES = (np.float32, np.float16, ml_dtypes.bfloat16)


def to_mx(mx, array):
    """An mx.array with exactly the bits of a numpy array (bfloat16 included)."""
    if array.dtype == ml_dtypes.bfloat16:
        return mx.array(array.view(np.uint16)).view(mx.bfloat16)
    return mx.array(array)


def from_mx(mx, array):
    """The numpy array with exactly the bits of an mx.array (bfloat16 included)."""
    if array.dtype == mx.bfloat16:
        return np.array(array.view(mx.uint16)).view(ml_dtypes.bfloat16)
    return np.array(array)


def matmul_tolerance(x, w_hat, out_dtype, accumulate_dtype=np.float32):
    """Elementwise bound on |computed - exact| for x @ w_hat.T (w_hat: (..., N, K)).

    Float32 accumulation of K products: gamma_K * sum|x||w| (Higham, Accuracy and
    Stability, Thm 3.1). MLX's CPU kernels accumulate float16/bfloat16 inputs in that
    type, where the worst case K*u is larger than the values themselves; for those we
    use the probabilistic bound sqrt(K) * u * sum|x||w| (Higham and Mary 2019).
    Rounding the result to out_dtype adds u_out * |y|.
    """
    x64 = np.asarray(x, np.float64)
    w64 = np.swapaxes(np.asarray(w_hat, np.float64), -1, -2)
    k = x64.shape[-1]
    magnitude = np.abs(x64) @ np.abs(w64)
    u = UNIT_ROUNDOFF[np.dtype(accumulate_dtype)]
    accumulation = k * u / (1 - k * u) if u == UNIT_ROUNDOFF[np.dtype(np.float32)] else math.sqrt(k) * u
    exact = np.abs(x64 @ w64)
    return accumulation * magnitude + UNIT_ROUNDOFF[np.dtype(out_dtype)] * (exact + accumulation * magnitude)


def assert_close_to_mlx_product(y, y_mlx, x, w_hat):
    """y (qlinear, float32 accumulation) and y_mlx (MLX, accumulating in x's type) both
    approximate x @ w_hat.T; their distance is at most the sum of the two bounds."""
    assert y.dtype == y_mlx.dtype and y.shape == y_mlx.shape
    bound = matmul_tolerance(x, w_hat, y.dtype) + matmul_tolerance(x, w_hat, y.dtype, x.dtype)
    error = np.abs(y.astype(np.float64) - y_mlx.astype(np.float64))
    assert np.all(error <= bound), f"max excess over the bound: {np.max(error - bound)}"


def ran_during_the_call(compute, seconds=0.2):
    """Whether the main thread got to run while a worker thread was calling compute()
    (again and again, for `seconds`, so that the main thread has time to wake up).

    With forced switches practically off, a worker holding the GIL through the calls
    would keep it until they (and the thread) ended, and the main thread would only wake
    once `finished` is set.
    """
    started, finished = threading.Event(), threading.Event()

    def worker():
        started.set()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            compute()
        finished.set()

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1000)
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        started.wait()
        ran = not finished.is_set()
        thread.join()
    finally:
        sys.setswitchinterval(switch_interval)
    return ran


class MLP(nn.Module):
    """A model written the mlx.nn way: children, a list of children, a parameter, a plain attribute."""

    def __init__(self, dims=64, hidden=128, vocab=50):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.layers = [nn.Linear(dims, hidden), nn.Linear(hidden, dims, bias=False)]
        self.gain = np.full(dims, 2.0, np.float32)
        self.activation = np.tanh

    def __call__(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = self.activation(layer(x))
        return self.embed.as_linear(x * self.gain)
