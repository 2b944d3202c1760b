"""W1's compiled peers for ``scripts/bench.py``: JAX and Keras 3 on JAX, one epoch per call.

The workload is bench.py's W1 (the same ``make_w1`` data, passed in): 784-512-512-10, ReLU,
softmax cross entropy against class indices, Adam (lr 1e-3, PyTorch's/optax's defaults
otherwise), batch 128 with the last batch partial (60000 = 468 x 128 + 96), float32, the rows
shuffled every epoch. Each runner's first epoch compiles (the bench drops its first round).

- ``JaxScan``: the whole epoch is one jitted function: the permutation, then ``lax.scan`` over
  the full batches (each gathered from the device-resident data inside the scan), then the
  partial batch through the jitted step; parameters and optimizer state are donated.
- ``JaxStep``: JAX's usual loop: one jitted step per batch, batches gathered with NumPy.
- ``KerasJax``: ``keras.Sequential`` of Dense layers, ``fit(..., epochs=1, shuffle=True)``
  with ``KERAS_BACKEND=jax`` (set here, before Keras loads).

``pip install "mlp-routinizer[bench]"`` brings jax, optax and keras.
"""

from __future__ import annotations

import os
import time

import numpy as np

SIZES = [784, 512, 512, 10]
LR = 1e-3


def _jax():
    import jax
    import jax.numpy as jnp
    import optax

    return jax, jnp, optax


def _init(jax, jnp, seed: int = 0) -> list:  # noqa: ANN001
    """He-normal weights and zero biases, as ``Model.mlp``'s default (the values do not
    matter for the time, only the shapes and dtype)."""
    keys = jax.random.split(jax.random.PRNGKey(seed), len(SIZES) - 1)
    return [(jax.random.normal(key, (a, b), jnp.float32) * np.float32(np.sqrt(2.0 / a)),
             jnp.zeros((b,), jnp.float32))
            for key, a, b in zip(keys, SIZES[:-1], SIZES[1:], strict=True)]


def _loss(jax, jnp, optax):  # noqa: ANN001, ANN202
    def loss(params, x, y):  # noqa: ANN001, ANN202
        h = x
        for index, (weight, bias) in enumerate(params):
            h = h @ weight + bias
            if index < len(params) - 1:
                h = jax.nn.relu(h)
        return optax.softmax_cross_entropy_with_integer_labels(h, y).mean()

    return loss


class _JaxBase:
    def __init__(self, X: np.ndarray, y: np.ndarray, batch: int) -> None:
        jax, jnp, optax = self.jax, self.jnp, self.optax = _jax()
        self.batch = batch
        self.n = len(X)
        self.params = _init(jax, jnp)
        self.optimizer = optax.adam(LR)
        self.state = self.optimizer.init(self.params)
        loss = _loss(jax, jnp, optax)
        optimizer = self.optimizer

        def step(params, state, x, y):  # noqa: ANN001, ANN202
            grads = jax.grad(loss)(params, x, y)
            updates, state = optimizer.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        self.step_fn = step
        self.step = jax.jit(step, donate_argnums=(0, 1))
        self.key = jax.random.PRNGKey(0)


class JaxScan(_JaxBase):
    """The whole epoch in one jitted ``lax.scan`` (see the module docstring)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, batch: int) -> None:
        super().__init__(X, y, batch)
        jax = self.jax
        self.X, self.y = jax.device_put(X), jax.device_put(y.astype(np.int32))
        full, step, n = self.n // batch, self.step_fn, self.n

        def epoch(params, state, X, y, key):  # noqa: ANN001, ANN202
            order = jax.random.permutation(key, n)
            batches = order[:full * batch].reshape(full, batch)

            def body(carry, index):  # noqa: ANN001, ANN202
                params, state = carry
                return step(params, state, X[index], y[index]), None

            (params, state), _ = jax.lax.scan(body, (params, state), batches)
            return params, state, order[full * batch:]

        self.epoch_fn = jax.jit(epoch, donate_argnums=(0, 1))

    def epoch(self) -> float:
        start = time.perf_counter()
        self.key, key = self.jax.random.split(self.key)
        self.params, self.state, rest = self.epoch_fn(self.params, self.state, self.X, self.y,
                                                      key)
        if rest.shape[0]:
            self.params, self.state = self.step(self.params, self.state, self.X[rest],
                                                self.y[rest])
        self.jax.block_until_ready(self.params)
        return time.perf_counter() - start


class JaxStep(_JaxBase):
    """One jitted step per batch, the batches gathered with NumPy."""

    def __init__(self, X: np.ndarray, y: np.ndarray, batch: int) -> None:
        super().__init__(X, y, batch)
        self.X, self.y = X, y.astype(np.int32)
        self.rng = np.random.default_rng(0)

    def epoch(self) -> float:
        start = time.perf_counter()
        order = self.rng.permutation(self.n)
        for low in range(0, self.n, self.batch):
            index = order[low:low + self.batch]
            self.params, self.state = self.step(self.params, self.state, self.X[index],
                                                self.y[index])
        self.jax.block_until_ready(self.params)
        return time.perf_counter() - start


class KerasJax:
    """Keras 3 on JAX: ``Sequential`` Dense layers, ``fit`` for one epoch."""

    def __init__(self, X: np.ndarray, y: np.ndarray, batch: int) -> None:
        os.environ["KERAS_BACKEND"] = "jax"
        import keras

        keras.utils.set_random_seed(0)
        layers = [keras.Input((SIZES[0],))]
        layers += [keras.layers.Dense(width, activation="relu") for width in SIZES[1:-1]]
        layers.append(keras.layers.Dense(SIZES[-1]))
        self.model = keras.Sequential(layers)
        self.model.compile(optimizer=keras.optimizers.Adam(LR),
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        self.X, self.y, self.batch = X, y.astype(np.int32), batch

    def epoch(self) -> float:
        start = time.perf_counter()
        self.model.fit(self.X, self.y, batch_size=self.batch, epochs=1, shuffle=True,
                       verbose=0)
        return time.perf_counter() - start


#: bench.py's peer kinds for these runners
RUNNERS = {"jax_scan": JaxScan, "jax_step": JaxStep, "keras": KerasJax}
