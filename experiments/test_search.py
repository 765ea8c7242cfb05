"""Search: a small two-layer network on a noisy spiral, tuned by Optuna instead of a grid.

Four parameters searched at once (a grid of 5 values each would be 625 runs):
the learning rate and weight decay on log scales, the hidden width, and the
batch size. Each trial is an ordinary run; the median pruner stops a trial
whose validation loss is worse than the median of earlier trials at the same
epoch, and the table is sorted by the final validation loss.

    pip install 'pytest-expharness[search]'
    pytest experiments/test_search.py -n 2 --dist worksteal --exp-trials 24
    pytest experiments/test_search.py -n 2 --exp-trials 32 --exp-resume   # 8 more
    pytest experiments/test_search.py --exp-testing                        # 2 trials
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("optuna", reason="searching needs pip install 'pytest-expharness[search]'")

LEARNING_RATE: float = 0.01
WEIGHT_DECAY: float = 1e-4
HIDDEN: int = 16
BATCH_SIZE: int = 32
EPOCHS: int = 30
N_SAMPLES: int = 1200
SEED: int = 3


def spiral(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved noisy spirals, a classic non-linear problem."""
    n = N_SAMPLES // 2
    turns = np.sqrt(rng.uniform(size=n)) * 2 * np.pi
    arm = np.stack([turns * np.cos(turns), turns * np.sin(turns)], axis=1) / np.pi
    x = np.concatenate([arm, -arm]) + rng.normal(scale=0.08, size=(2 * n, 2))
    y = np.concatenate([np.zeros(n), np.ones(n)])
    order = rng.permutation(2 * n)
    return x[order], y[order]


def loss_and_grads(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple:
    hidden = np.tanh(x @ params["w1"] + params["b1"])
    logits = hidden @ params["w2"] + params["b2"]
    p = 1 / (1 + np.exp(-np.clip(logits[:, 0], -30, 30)))
    loss = float(-np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))
    d_logits = ((p - y) / len(y))[:, None]
    d_hidden = (d_logits @ params["w2"].T) * (1 - hidden**2)
    grads = {
        "w2": hidden.T @ d_logits,
        "b2": d_logits.sum(axis=0),
        "w1": x.T @ d_hidden,
        "b1": d_hidden.sum(axis=0),
    }
    return loss, grads


@pytest.mark.experiment(
    metric="loss/val",
    mode="min",
    search={
        "LEARNING_RATE": "loguniform(1e-3, 1.0)",
        "WEIGHT_DECAY": "loguniform(1e-6, 1e-1)",
        "HIDDEN": "int(4, 64, log)",
        "BATCH_SIZE": "choice(16, 64, 256)",
    },
    testing={"EPOCHS": 3, "N_SAMPLES": 200},
)
def test_search(exp):
    """A two-layer tanh network on two spirals, by mini-batch gradient descent."""
    rng = np.random.default_rng(SEED)
    x, y = spiral(rng)
    split = int(0.8 * len(y))
    params = {
        "w1": rng.normal(scale=2.0, size=(2, exp.HIDDEN)),
        "b1": np.zeros(exp.HIDDEN),
        "w2": rng.normal(scale=1 / np.sqrt(exp.HIDDEN), size=(exp.HIDDEN, 1)),
        "b2": np.zeros(1),
    }
    for epoch in range(exp.EPOCHS):
        order = rng.permutation(split)
        for start in range(0, split, exp.BATCH_SIZE):
            batch = order[start : start + exp.BATCH_SIZE]
            _, grads = loss_and_grads(params, x[batch], y[batch])
            for name, grad in grads.items():
                params[name] -= exp.LEARNING_RATE * (grad + exp.WEIGHT_DECAY * params[name])
        train, _ = loss_and_grads(params, x[:split], y[:split])
        val, _ = loss_and_grads(params, x[split:], y[split:])
        exp.track("loss/train", train, step=epoch)
        exp.track("loss/val", val, step=epoch)  # reported to the pruner as it goes
    hidden = np.tanh(x[split:] @ params["w1"] + params["b1"])
    accuracy = float(np.mean(((hidden @ params["w2"] + params["b2"])[:, 0] > 0) == y[split:]))
    exp["results/accuracy"] = accuracy
