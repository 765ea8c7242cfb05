"""Quickstart: logistic regression by gradient descent, swept over the learning rate.

Shows the whole template of an experiment: UPPERCASE parameters, a parametrize
grid, exp.log, tracked series, stored results, artifacts (JSON and a figure),
component statuses and smaller sizes under --exp-testing.

    pytest experiments/test_quickstart.py                    # the sweep
    pytest experiments/test_quickstart.py --set EPOCHS=400   # an override
    pytest experiments/test_quickstart.py --exp-testing      # a smoke run
"""

from __future__ import annotations

import numpy as np
import pytest

N_SAMPLES: int = 4000
N_FEATURES: int = 8
EPOCHS: int = 150
BATCH_SIZE: int = 64
NOISE: float = 0.8
SEED: int = 7
PATIENCE: int | None = None  # epochs without improvement before stopping; None: never


def make_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian classes whose means differ along a random direction."""
    direction = rng.normal(size=N_FEATURES)
    direction /= np.linalg.norm(direction)
    labels = rng.integers(0, 2, size=N_SAMPLES)
    features = rng.normal(scale=NOISE, size=(N_SAMPLES, N_FEATURES))
    features += np.outer(2 * labels - 1, direction)
    return features, labels.astype(float)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def log_loss(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(sigmoid(x @ weights), 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@pytest.mark.experiment(
    tags=["demo"], metric="loss/test", mode="min", testing={"N_SAMPLES": 400, "EPOCHS": 8}
)
@pytest.mark.parametrize("learning_rate", [0.003, 0.03, 0.3])
def test_quickstart(exp, learning_rate: float) -> None:
    """Logistic regression on two Gaussian classes; which learning rate converges best?"""
    rng = exp.rng  # seeded with exp.seed: SEED, plus the repeat index with --exp-repeats
    x, y = make_data(rng)
    x = np.hstack([x, np.ones((len(x), 1))])
    split = int(0.8 * len(x))
    x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]
    exp.log(f"{len(x_train)} training and {len(x_test)} test samples, lr={learning_rate}")

    weights = np.zeros(x.shape[1])
    best, since_best = np.inf, 0
    for epoch in range(exp.EPOCHS):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), exp.BATCH_SIZE):
            batch = order[start : start + exp.BATCH_SIZE]
            xb, yb = x_train[batch], y_train[batch]
            weights -= learning_rate * xb.T @ (sigmoid(xb @ weights) - yb) / len(batch)
        train_loss = log_loss(weights, x_train, y_train)
        test_loss = log_loss(weights, x_test, y_test)
        accuracy = float(np.mean((sigmoid(x_test @ weights) > 0.5) == y_test))
        exp.track_many({"loss/train": train_loss, "loss/test": test_loss, "accuracy": accuracy})
        if test_loss < best - 1e-5:
            best, since_best = test_loss, 0
        else:
            since_best += 1
        if exp.PATIENCE is not None and since_best >= exp.PATIENCE:
            exp.log(f"stopped early after epoch {epoch}")
            break

    exp["results/test_loss"] = test_loss
    exp["results/accuracy"] = accuracy
    exp["results/weights_norm"] = float(np.linalg.norm(weights[:-1]))
    exp.commit_json("model.json", {"weights": weights, "learning_rate": learning_rate})

    if exp.PATIENCE is None:
        exp.component("early_stopping").disable("PATIENCE is None", hint="--set PATIENCE=10")
    else:
        with exp.component("early_stopping") as early_stopping:
            early_stopping.data["stopped_after"] = epoch + 1

    with exp.component("calibration") as calibration:
        probabilities = sigmoid(x_test @ weights)
        bins = np.linspace(0, 1, 6)
        which = np.digitize(probabilities, bins[1:-1])
        gaps = [
            abs(probabilities[which == b].mean() - y_test[which == b].mean())
            for b in range(5)
            if np.any(which == b)
        ]
        calibration.data["expected_calibration_gap"] = float(np.mean(gaps))

    with exp.component("figure"):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5, 3.5))
        ax = fig.add_subplot()
        ax.hist(probabilities[y_test == 0], bins=30, alpha=0.6, label="class 0")
        ax.hist(probabilities[y_test == 1], bins=30, alpha=0.6, label="class 1")
        ax.set_xlabel("predicted probability of class 1")
        ax.legend()
        exp.commit_fig("probabilities.png", fig)

    assert accuracy > 0.6, f"accuracy {accuracy:.3f} is no better than chance"
