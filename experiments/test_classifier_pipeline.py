"""A classifier pipeline with a bias audit, in the style of an ExperimentManager pipeline.

Synthetic loan applications: numeric features, three outcomes (reject, review,
approve) and a sensitive group attribute (a minority group of about 30%). The
data is built unfair on purpose: the minority's latent scores are shifted down
(fewer approvals in the labels), its features are measured with more noise
(harder to classify), and one feature is a proxy of the group (a "postcode"),
so a model that never sees the group can still learn it.

Each stage of the pipeline is a component, so summary.json and REPORT.md say
what became of every one: `data`, `train`, `evaluate` (accuracy, per-class F1,
confusion matrix), `predictions` (the test set's predictions as an artifact,
predictions.csv) and `bias` (per-group accuracy, the demographic parity
difference and the equal opportunity difference for the favourable outcome
"approve", and a figure). The first three are required: when one fails the run
fails with its reason (the traceback is in run.log). The last two are optional:
switch them off with `--exp-set SAVE_PREDICTIONS=false` or `--exp-set AUDIT_BIAS=false`
and they are recorded as disabled, with the hint to switch them on again.

The grid is the model (softmax regression or a one-hidden-layer MLP) times the
L2 strength; the main metric is the test macro-F1 (`results/macro_f1`), so the
table gets a pivot of model by l2. Every scalar under `results/` (per-class F1
and the bias metrics under `results/bias/`) is a column of the table. The run
of the reference point (softmax, l2=0.01) with every parameter at its default
is labelled `baseline`, with a note giving its numbers; every other run is
labelled `exploratory`, with a note saying how it differs from the baseline.
`pipeline_summary.json` gathers the stages' outcomes and the numbers.

    pytest experiments/test_classifier_pipeline.py -n 2              # the sweep: 6 runs
    pytest experiments/test_classifier_pipeline.py -k softmax        # one row of the grid
    pytest experiments/test_classifier_pipeline.py --exp-set USE_GROUP_FEATURE=true
    pytest experiments/test_classifier_pipeline.py --exp-testing     # a smoke run
    expharness list --label baseline                                 # the baselines so far
"""

from __future__ import annotations

import csv
from typing import Literal

import numpy as np
import pytest

N_SAMPLES: int = 5000
N_FEATURES: int = 8  # informative features; a proxy of the group is added
MINORITY_SHARE: float = 0.3
GROUP_SHIFT: float = 0.6  # how far down the minority's latent score is shifted
NOISE: float = 0.6  # measurement noise of the features
MINORITY_EXTRA_NOISE: float = 0.5  # added to NOISE for the minority
PROXY_STRENGTH: float = 1.0  # how clearly the proxy feature reveals the group
INTERACTION: float = 1.0  # weight of a product of two features in the score (nonlinear)
USE_GROUP_FEATURE: bool = False  # give the model the group attribute itself
HIDDEN: int = 32  # hidden units of the MLP
EPOCHS: int = 40
BATCH_SIZE: int = 128
LEARNING_RATE: float = 0.01
SAVE_PREDICTIONS: bool = True
AUDIT_BIAS: bool = True
SEED: int = 11

# the parameters' values in this file, to tell the baseline from a run with overrides
_defaults = {k: v for k, v in dict(globals()).items() if k[:1].isalpha() and k.isupper()}
# names starting with "_" or in lower case are not parameters: --exp-set cannot change them
_CLASSES = ("reject", "review", "approve")
_FAVOURABLE = _CLASSES.index("approve")
_GROUPS = ("majority", "minority")
reference_point = {"model": "softmax", "l2": 0.01}  # the grid point labelled baseline


# -- data ---------------------------------------------------------------------


def make_data(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Applications with an ordinal outcome, a group attribute and a proxy of the group."""
    n = N_SAMPLES
    group = (rng.random(n) < MINORITY_SHARE).astype(int)
    direction = rng.normal(size=N_FEATURES)
    direction /= np.linalg.norm(direction)
    latent = rng.normal(size=(n, N_FEATURES)) - GROUP_SHIFT * np.outer(group, direction)
    score = latent @ direction + INTERACTION * latent[:, 0] * latent[:, 1]
    score += 0.3 * rng.normal(size=n)
    label = np.digitize(score, np.quantile(score, [0.4, 0.75]))  # 40% reject, 25% approve
    noise = NOISE + MINORITY_EXTRA_NOISE * group
    features = latent + noise[:, None] * rng.normal(size=(n, N_FEATURES))
    proxy = PROXY_STRENGTH * group + 0.5 * rng.normal(size=n)
    columns = [features, proxy[:, None]]
    if USE_GROUP_FEATURE:
        columns.append(group[:, None].astype(float))
    x = np.hstack(columns)
    order = rng.permutation(n)
    return {"x": x[order], "y": label[order], "group": group[order]}


def split(data: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """60% train, 20% validation, 20% test; features standardised with the train statistics."""
    n = len(data["y"])
    cuts = {"train": slice(0, int(0.6 * n)), "val": slice(int(0.6 * n), int(0.8 * n))}
    cuts["test"] = slice(int(0.8 * n), n)
    parts = {name: {k: v[cut] for k, v in data.items()} for name, cut in cuts.items()}
    mean, std = parts["train"]["x"].mean(axis=0), parts["train"]["x"].std(axis=0) + 1e-12
    for part in parts.values():
        part["x"] = (part["x"] - mean) / std
    return parts


# -- models -------------------------------------------------------------------


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def init_params(kind: str, d: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    k = len(_CLASSES)
    if kind == "softmax":
        return {"W": np.zeros((d, k)), "b": np.zeros(k)}
    h = HIDDEN
    return {
        "W1": rng.normal(scale=1 / np.sqrt(d), size=(d, h)),
        "b1": np.zeros(h),
        "W": rng.normal(scale=1 / np.sqrt(h), size=(h, k)),
        "b": np.zeros(k),
    }


def forward(params: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and the last layer's input."""
    hidden = np.tanh(x @ params["W1"] + params["b1"]) if "W1" in params else x
    return softmax(hidden @ params["W"] + params["b"]), hidden


def cross_entropy(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    p, _ = forward(params, x)
    return float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))


def gradients(
    params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, l2: float
) -> dict[str, np.ndarray]:
    """Gradients of the mean cross-entropy plus l2/2 times the squared weights (not biases)."""
    p, hidden = forward(params, x)
    delta = p.copy()
    delta[np.arange(len(y)), y] -= 1
    delta /= len(y)
    grads = {"W": hidden.T @ delta + l2 * params["W"], "b": delta.sum(axis=0)}
    if "W1" in params:
        back = (delta @ params["W"].T) * (1 - hidden**2)
        grads["W1"] = x.T @ back + l2 * params["W1"]
        grads["b1"] = back.sum(axis=0)
    return grads


class Adam:
    def __init__(self, params: dict[str, np.ndarray], lr: float) -> None:
        self.lr, self.t = lr, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        for k, g in grads.items():
            self.m[k] = 0.9 * self.m[k] + 0.1 * g
            self.v[k] = 0.999 * self.v[k] + 0.001 * g**2
            m_hat, v_hat = self.m[k] / (1 - 0.9**self.t), self.v[k] / (1 - 0.999**self.t)
            params[k] -= self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)


# -- metrics ------------------------------------------------------------------


def confusion(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    k = len(_CLASSES)
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def f1_per_class(matrix: np.ndarray) -> np.ndarray:
    tp = np.diag(matrix).astype(float)
    precision = tp / np.maximum(matrix.sum(axis=0), 1)
    recall = tp / np.maximum(matrix.sum(axis=1), 1)
    return np.where(tp > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)


def group_rates(y: np.ndarray, pred: np.ndarray, group: np.ndarray) -> dict[str, dict[str, float]]:
    """Per group: size, accuracy, approval rate (selection rate) and the TPR of approve."""
    rates = {}
    for g, name in enumerate(_GROUPS):
        mine = group == g
        deserving = mine & (y == _FAVOURABLE)
        if not deserving.any():
            raise ValueError(f"no {name} applicant in the test set deserves approval")
        rates[name] = {
            "n": int(mine.sum()),
            "accuracy": float(np.mean(pred[mine] == y[mine])),
            "approval_rate": float(np.mean(pred[mine] == _FAVOURABLE)),
            "base_rate": float(np.mean(y[mine] == _FAVOURABLE)),
            "tpr": float(np.mean(pred[deserving] == _FAVOURABLE)),
        }
    return rates


def required(stage) -> None:
    """A stage the rest of the pipeline needs: stop the run when it did not succeed."""
    if stage.status != "success":
        pytest.fail(f"stage {stage.name!r} {stage.status}: {stage.reason}", pytrace=False)


# -- the experiment -----------------------------------------------------------


@pytest.mark.experiment(
    name="classifier_pipeline",
    tags=["pipeline", "fairness"],
    metric="macro_f1",
    mode="max",
    testing={"N_SAMPLES": 800, "EPOCHS": 10},
)
@pytest.mark.parametrize("l2", [0.0, 0.01, 0.1])
@pytest.mark.parametrize("model", ["softmax", "mlp"])
def test_classifier_pipeline(exp, model: Literal["softmax", "mlp"], l2: float) -> None:
    """Train a classifier on loan applications; how accurate is it, and how fair to the groups?"""
    rng = exp.rng

    with exp.component("data") as stage:
        parts = split(make_data(rng))
        train, val, test = parts["train"], parts["val"], parts["test"]
        stage.data["n_train"], stage.data["n_test"] = len(train["y"]), len(test["y"])
        stage.data["n_inputs"] = train["x"].shape[1]
        stage.data["minority_share"] = float(np.mean(train["group"]))
        exp["data/class_counts"] = {c: int(np.sum(train["y"] == i)) for i, c in enumerate(_CLASSES)}
    required(stage)
    exp.log(f"{len(train['y'])} train, {len(val['y'])} val, {len(test['y'])} test applications")

    with exp.component("train") as stage:
        params = init_params(model, train["x"].shape[1], rng)
        optimiser = Adam(params, exp.LEARNING_RATE)
        for _ in range(exp.EPOCHS):
            order = rng.permutation(len(train["y"]))
            for start in range(0, len(order), exp.BATCH_SIZE):
                batch = order[start : start + exp.BATCH_SIZE]
                optimiser.step(params, gradients(params, train["x"][batch], train["y"][batch], l2))
            exp.track_many(
                {
                    "loss/train": cross_entropy(params, train["x"], train["y"]),
                    "loss/val": cross_entropy(params, val["x"], val["y"]),
                }
            )
        stage.data["parameters"] = int(sum(v.size for v in params.values()))
        stage.data["weights_norm"] = float(
            np.sqrt(sum(np.sum(v**2) for k, v in params.items() if k.startswith("W")))
        )
    required(stage)

    with exp.component("evaluate") as stage:
        probabilities = forward(params, test["x"])[0]
        pred = probabilities.argmax(axis=1)
        matrix = confusion(test["y"], pred)
        f1 = f1_per_class(matrix)
        exp["results/accuracy"] = float(np.mean(pred == test["y"]))
        exp["results/macro_f1"] = float(f1.mean())
        for name, value in zip(_CLASSES, f1, strict=True):
            exp[f"results/f1/{name}"] = float(value)
        exp["evaluation/confusion"] = matrix  # rows: true class, columns: predicted
        stage.data["test_loss"] = cross_entropy(params, test["x"], test["y"])
    required(stage)
    exp.log(f"test accuracy {exp['results/accuracy']:.3f}, macro-F1 {exp['results/macro_f1']:.3f}")

    if not exp.SAVE_PREDICTIONS:
        exp.component("predictions").disable(
            "SAVE_PREDICTIONS is false", hint="--exp-set SAVE_PREDICTIONS=true"
        )
    else:
        with exp.component("predictions") as stage, exp.open("predictions.csv") as out:
            writer = csv.writer(out)
            writer.writerow(["row", "group", "label", "predicted", *(f"p_{c}" for c in _CLASSES)])
            for i, (g, y, p, probs) in enumerate(
                zip(test["group"], test["y"], pred, probabilities, strict=True)
            ):
                writer.writerow(
                    [i, _GROUPS[g], _CLASSES[y], _CLASSES[p], *(f"{q:.4f}" for q in probs)]
                )
            stage.data["rows"] = len(pred)

    bias: dict[str, float] = {}
    if not exp.AUDIT_BIAS:
        exp.component("bias").disable("AUDIT_BIAS is false", hint="--exp-set AUDIT_BIAS=true")
    else:
        with exp.component("bias") as stage:
            rates = group_rates(test["y"], pred, test["group"])
            major, minor = rates["majority"], rates["minority"]
            bias = {
                "acc_majority": major["accuracy"],
                "acc_minority": minor["accuracy"],
                # P(approve | majority) - P(approve | minority): > 0 favours the majority
                "dp_diff": major["approval_rate"] - minor["approval_rate"],
                # the same among those who deserve approval (true positive rates)
                "eo_diff": major["tpr"] - minor["tpr"],
            }
            for key, value in bias.items():
                exp[f"results/bias/{key}"] = value
            exp["bias/groups"] = rates  # sizes, base rates, approval rates, TPRs
            stage.data["base_rate_difference"] = major["base_rate"] - minor["base_rate"]
            exp.commit_fig("bias.png", bias_figure(rates, f"{model}, l2={l2}"))

    changed = {k: v for k, v in exp.params.items() if k in _defaults and _defaults[k] != v}
    point = {"model": model, "l2": l2}
    headline = f"macro-F1 {exp['results/macro_f1']:.3f}"
    if bias:
        headline += f", DP difference {bias['dp_diff']:+.3f}"
        headline += f", EO difference {bias['eo_diff']:+.3f}"
    if point == reference_point and not changed and not exp.testing:
        where = ", ".join(f"{k}={v}" for k, v in reference_point.items())
        exp.label("baseline", note=f"reference configuration ({where}): {headline}")
    else:
        differs = {k: v for k, v in point.items() if reference_point[k] != v} | changed
        what = ", ".join(f"{k}={v}" for k, v in differs.items()) or "testing mode"
        exp.label("exploratory", note=f"differs from the baseline in {what}: {headline}")

    exp.commit_json(
        "pipeline_summary.json",
        {
            "model": model,
            "l2": l2,
            "stages": {
                name: exp.component(name).status
                for name in ("data", "train", "evaluate", "predictions", "bias")
            },
            "accuracy": exp["results/accuracy"],
            "macro_f1": exp["results/macro_f1"],
            "f1": dict(zip(_CLASSES, f1, strict=True)),
            "bias": bias,
        },
    )

    assert exp["results/macro_f1"] > 0.45, "macro-F1 not clearly above chance (about 1/3)"
    if bias:  # the audit must see the disparity the data was built with
        assert bias["dp_diff"] > 0, f"no approval gap found: {bias}"


def bias_figure(rates: dict[str, dict[str, float]], title: str):
    """Grouped bars: accuracy, approval rate, true approval rate and TPR of each group."""
    from matplotlib.figure import Figure

    measures = ("accuracy", "approval_rate", "base_rate", "tpr")
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    x = np.arange(len(measures))
    for i, name in enumerate(_GROUPS):
        values = [rates[name][m] for m in measures]
        ax.bar(x + (i - 0.5) * 0.38, values, width=0.38, label=f"{name} (n={rates[name]['n']})")
    ax.set_xticks(x, ["accuracy", "approved", "deserve\napproval", "TPR\n(approve)"])
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend()
    return fig
