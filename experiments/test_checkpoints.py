"""A long run that survives being killed: ridge regression by SGD, checkpointed every 50 epochs.

The state (weights, the optimiser's momentum and the data stream's random state)
is saved with `exp.checkpoint` every CHECKPOINT_EVERY epochs; `exp.restore()`
gives the newest back. Kill the sweep part-way (Ctrl-C twice, `kill -9`, a
SLURM time limit), then run it again with --exp-resume: each run that ended
early goes on from its checkpoint in a new run folder, its curves carried over
(metrics.csv reads as one run), the old run labelled `superseded`.

    pytest experiments/test_checkpoints.py -n 2
    pytest experiments/test_checkpoints.py -n 2 --exp-set KILL_AT=300   # dies at epoch 300
    pytest experiments/test_checkpoints.py -n 2 --exp-resume            # goes on from 299
"""

from __future__ import annotations

import os

import numpy as np
import pytest

N_SAMPLES: int = 2000
N_FEATURES: int = 20
EPOCHS: int = 600
BATCH_SIZE: int = 32
MOMENTUM: float = 0.9
CHECKPOINT_EVERY: int = 50
KILL_AT: int = -1  # an epoch at which the process dies (to try resuming); -1: never
SEED: int = 3

__testing__ = {"N_SAMPLES": 200, "EPOCHS": 40, "CHECKPOINT_EVERY": 10}


def _data(exp):
    rng = np.random.default_rng(exp.SEED)
    x = rng.normal(size=(exp.N_SAMPLES, exp.N_FEATURES))
    w_true = rng.normal(size=exp.N_FEATURES)
    y = x @ w_true + 0.3 * rng.normal(size=exp.N_SAMPLES)
    return x, y


@pytest.mark.experiment(metric="loss/train", mode="min", steps="EPOCHS")
@pytest.mark.parametrize("learning_rate", [0.003, 0.01])
@pytest.mark.parametrize("ridge", [0.0, 0.01])
def test_checkpoints(exp, learning_rate, ridge):
    """Ridge regression by SGD with momentum, checkpointed; resumes where it stopped."""
    x, y = _data(exp)
    found = exp.restore()
    if found is None:
        state = {
            "w": np.zeros(exp.N_FEATURES),
            "velocity": np.zeros(exp.N_FEATURES),
            "rng": np.random.default_rng(exp.seed).bit_generator.state,
        }
        start = 0
    else:
        state, last = found
        start = last + 1
        exp.log(f"resumed from the checkpoint of epoch {last}")
    rng = np.random.default_rng()
    rng.bit_generator.state = state["rng"]
    w, velocity = state["w"], state["velocity"]
    for epoch in range(start, exp.EPOCHS):
        order = rng.permutation(exp.N_SAMPLES)
        for begin in range(0, exp.N_SAMPLES, exp.BATCH_SIZE):
            batch = order[begin : begin + exp.BATCH_SIZE]
            error = x[batch] @ w - y[batch]
            grad = x[batch].T @ error / len(batch) + ridge * w
            velocity = exp.MOMENTUM * velocity - learning_rate * grad
            w = w + velocity
        exp.track("loss/train", float(np.mean((x @ w - y) ** 2)), step=epoch)
        exp.track("weight_norm", float(np.linalg.norm(w)), step=epoch)
        if epoch % exp.CHECKPOINT_EVERY == exp.CHECKPOINT_EVERY - 1:
            state = {"w": w, "velocity": velocity, "rng": rng.bit_generator.state}
            exp.checkpoint(state, step=epoch)
        if epoch == exp.KILL_AT:
            os._exit(1)  # as a time limit or kill -9 would end it: nothing more is written
    exp["final_loss"] = float(np.mean((x @ w - y) ** 2))
    exp["resumed"] = start > 0
