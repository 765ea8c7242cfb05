"""Quickstart: logistic regression by gradient descent, swept over the learning rate.

Shows the whole template of an experiment: UPPERCASE parameters, a parametrize
grid, exp.log, tracked series, stored results, artifacts (JSON and a figure),
component statuses and smaller sizes under --exp-testing.

Then two analyses that read only what the runs archived:

- `learning_curve` (@analysis) runs after each completed run: it loads the
  tracked `loss/train` and `loss/test` series back from the run folder, marks the
  epoch of the lowest test loss and writes `analysis/learning_curve.png` and
  `analysis/curve_summary.json` into the run folder. `expharness analyze RUN`
  runs it again on an archived run (from the run's code/ snapshot).
- `recommend_learning_rate` (@sweep_analysis) runs once the sweep's table is
  written: it recommends the best run's learning rate (a line under the table
  and in comparison.md), names the rates within 1% of it with the epoch each
  got there, says when the grid should be widened, and writes
  `analysis/test_loss_by_lr.png` and `analysis/recommendation.json` into the
  session folder.

    pytest experiments/test_quickstart.py                    # the sweep
    pytest experiments/test_quickstart.py --exp-set EPOCHS=400   # an override
    pytest experiments/test_quickstart.py --exp-testing      # a smoke run
    pytest experiments/ --exp-testing --exp-baseline         # CI: fail on a regression
    pytest experiments/ --exp-testing --exp-baseline-update  # write baselines/*.testing.json
    expharness analyze results/quickstart/<session>/learning_rate=0.03
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_expharness import analysis, sweep_analysis

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
    tags=["demo"],
    metric="loss/test",
    mode="min",
    testing={"N_SAMPLES": 400, "EPOCHS": 8},
    expect={"accuracy": ">= 0.9"},  # checked on the final value: a collapse fails the test
    testing_expect={"accuracy": ">= 0.8"},  # smoke sizes give other numbers
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
        exp.component("early_stopping").disable("PATIENCE is None", hint="--exp-set PATIENCE=10")
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


# -- analyses: they see only what the runs archived --------------------------


def first_epoch_within(
    loss: np.ndarray, steps: np.ndarray, target: float, tolerance: float = 0.01
) -> int:
    """The first epoch (step) at which a loss curve is within `tolerance` of `target`."""
    return int(steps[np.argmax(loss <= target * (1 + tolerance))])


@analysis
def learning_curve(run) -> None:
    """The learning curve of one run, with the epoch of the lowest test loss marked."""
    from matplotlib.figure import Figure

    train, test = run.metrics["loss/train"], run.metrics["loss/test"]  # arrays with .steps
    best = int(np.argmin(test))
    best_epoch = int(test.steps[best])
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    ax.plot(train.steps, train, label="train")
    ax.plot(test.steps, test, label="test")
    ax.axvline(best_epoch, color="grey", linestyle=":")
    ax.scatter([best_epoch], [test[best]], color="C1", zorder=3, label=f"best (epoch {best_epoch})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("log loss")
    ax.set_title(f"learning rate {run.params['learning_rate']}")
    ax.legend()
    run.commit_fig("learning_curve.png", fig)
    run.commit_json(
        "curve_summary.json",
        {
            "learning_rate": run.params["learning_rate"],
            "epochs": len(test),
            "best_epoch": best_epoch,
            "best_test_loss": float(test[best]),
            "final_test_loss": float(test[-1]),
            "epoch_within_1pct_of_best": first_epoch_within(test, test.steps, float(test[best])),
            "generalisation_gap": float(test[-1] - train[-1]),
        },
    )


@sweep_analysis
def recommend_learning_rate(sweep) -> None:
    """Recommend the best run's learning rate; name the rates as good, and how fast they are."""
    best = sweep.best
    if best is None:
        sweep.recommend("no completed run has loss/test: nothing to recommend")
        return
    # the mean test-loss curve of each rate (over repeats, with --exp-repeats)
    by_rate: dict[float, list[np.ndarray]] = {}
    for run in sweep.completed:
        if "loss/test" in run.metrics:
            by_rate.setdefault(run.params["learning_rate"], []).append(run.metrics["loss/test"])
    curves = {}
    for rate, series in sorted(by_rate.items()):
        n = min(len(s) for s in series)
        curves[rate] = (np.mean([s[:n] for s in series], axis=0), series[0].steps[:n])
    finals = {rate: float(curve[-1]) for rate, (curve, _) in curves.items()}
    chosen = best.params["learning_rate"]
    repeats = max(len(series) for series in by_rate.values())
    by_mean = min(finals, key=finals.__getitem__)
    luckiest = ""
    if by_mean != chosen:  # with repeats: the best single run is not the best on average
        luckiest = f" (the best single run, {best.run_id}, was a lucky seed)"
        chosen = by_mean
    lowest = finals[chosen]
    # every rate whose (mean) final test loss is within 1% of the best, and when it got there
    close = {
        rate: first_epoch_within(curve, steps, lowest)
        for rate, (curve, steps) in curves.items()
        if finals[rate] <= lowest * 1.01
    }
    mean = f", mean of {repeats} repeats" if repeats > 1 else ""
    text = f"learning_rate={chosen}{luckiest} (final test loss {lowest:.4f}{mean}"
    text += f", within 1% by epoch {close[chosen]})"
    others = [f"{rate} (by epoch {epoch})" for rate, epoch in close.items() if rate != chosen]
    if others:
        text += f"; as good within 1%: {', '.join(others)}"
    rates = sorted(finals)
    if len(rates) > 1 and chosen in (rates[0], rates[-1]):
        text += "; the best rate is at the edge of the grid: extend it"
    sweep.recommend(text)

    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    for rate, (curve, steps) in curves.items():
        ax.plot(steps, curve, label=f"lr={rate}")
    ax.axhline(lowest * 1.01, color="grey", linestyle=":", label="best + 1%")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test log loss" + (f" (mean of {repeats})" if repeats > 1 else ""))
    ax.set_yscale("log")
    ax.legend()
    sweep.commit_fig("test_loss_by_lr.png", fig)
    sweep.commit_json(
        "recommendation.json",
        {
            "learning_rate": chosen,
            "best_run": best.run_id,
            "repeats": repeats,
            "final_test_loss": {str(rate): loss for rate, loss in finals.items()},
            "within_1pct_by_epoch": {str(rate): epoch for rate, epoch in close.items()},
        },
    )
