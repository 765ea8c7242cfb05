"""Latent spaces: which bottleneck keeps the tokens, and what do the global features cost?

A small autoencoder (numpy, hand-written backward pass, Adam) reconstructs synthetic
records made of a sequence of one-hot tokens plus a few real-valued "global" features.
The tokens depend on a discrete topic and a continuous style; the globals on a factor of
their own (and a little on the topic), so the bottleneck has to share its capacity
between the two. The grid crosses the kind of bottleneck with the weight of the globals'
reconstruction loss:

- `latent`: `none` (the encoder's LATENT_DIM outputs are the code), `linear` (a further
  linear projection down to LINEAR_DIM dimensions) or `vq` (each code is replaced by the
  nearest of CODEBOOK_SIZE codebook vectors, fitted by k-means on the encoder outputs
  and refitted every epoch; gradients pass straight through the quantiser);
- `globals_beta` in 0, 1, 10: the weight of the globals' squared error in the loss.

On held-out records, `rec_tokens` is the cross-entropy per token (nats) and `rec_globals`
the mean squared error of the standardised globals (1.0: no better than their mean;
with `globals_beta` = 0 the globals head is never trained and stays there).
`results/factor_r2` is how much of the globals' own factor a linear probe reads off the
code. Raising `globals_beta` buys `rec_globals` with `rec_tokens`; the narrow `linear`
code and the 16-word `vq` code pay for it sooner. For reference, data.json holds the
cross-entropy of a decoder that ignores the code and of one that knows the true topic
and style (a code that beats the latter keeps some of the individual tokens' noise).

    pytest experiments/test_latent_spaces.py -n 2                     # the 3x3 grid
    pytest experiments/test_latent_spaces.py -k vq --exp-set CODEBOOK_SIZE=32
    pytest experiments/test_latent_spaces.py --exp-testing            # a smoke run
"""

from __future__ import annotations

import numpy as np
import pytest

N_TRAIN: int = 2000
N_TEST: int = 500
SEQ_LEN: int = 8  # tokens per record
VOCAB: int = 12
N_TOPICS: int = 8
N_GLOBALS: int = 6
HIDDEN: int = 64
LATENT_DIM: int = 4
LINEAR_DIM: int = 2  # width of the `linear` bottleneck
CODEBOOK_SIZE: int = 16  # codes of the `vq` bottleneck
COMMITMENT: float = 0.25  # weight of |h - sg(code)|^2 in the `vq` loss
VQ_WARMUP: int = 5  # epochs trained without quantisation before the k-means fit
KMEANS_ITERS: int = 3  # Lloyd iterations per epoch that refit the codebook
EPOCHS: int = 30
BATCH_SIZE: int = 64
LEARNING_RATE: float = 3e-3
SEED: int = 11


def make_truth(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The generative model's parameters."""
    return {
        "topic_logits": 2.0 * rng.normal(size=(N_TOPICS, SEQ_LEN, VOCAB)),
        "style_logits": 1.5 * rng.normal(size=(SEQ_LEN, VOCAB)),
        "factor_loadings": rng.normal(size=(2, N_GLOBALS)),
        "topic_globals": rng.normal(size=(N_TOPICS, N_GLOBALS)),
    }


def make_data(rng: np.random.Generator, n: int, truth: dict[str, np.ndarray]) -> dict:
    """Records of SEQ_LEN tokens (from a topic and a style) plus N_GLOBALS global features."""
    topic = rng.integers(0, N_TOPICS, size=n)
    style = rng.normal(size=n)
    factor = rng.normal(size=(n, 2))  # what the globals carry beyond the topic
    probs = softmax(truth["topic_logits"][topic] + style[:, None, None] * truth["style_logits"])
    cumulative = probs.cumsum(axis=2)
    tokens = (rng.random((n, SEQ_LEN, 1)) > cumulative).sum(axis=2).clip(max=VOCAB - 1)
    globals_ = factor @ truth["factor_loadings"] + 0.5 * truth["topic_globals"][topic]
    globals_ += 0.1 * rng.normal(size=globals_.shape)
    entropy = -(probs * np.log(np.clip(probs, 1e-12, None))).sum(axis=2).mean(axis=1)
    return {
        "tokens": tokens,
        "globals": globals_,
        "topic": topic,
        "factor": factor,
        "entropy": entropy,
    }


def features(data: dict) -> np.ndarray:
    """The autoencoder's input: the flattened one-hot tokens, then the globals."""
    onehot = np.eye(VOCAB)[data["tokens"]].reshape(len(data["tokens"]), -1)
    return np.hstack([onehot, data["globals"]])


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d2 = (points**2).sum(1)[:, None] - 2 * points @ centres.T + (centres**2).sum(1)[None]
    return d2.argmin(axis=1)


def kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        d2 = ((points[:, None, :] - np.array(centres)[None]) ** 2).sum(axis=2).min(axis=1)
        centres.append(points[rng.choice(len(points), p=d2 / d2.sum())])
    return np.array(centres)


def kmeans(
    points: np.ndarray, centres: np.ndarray, iters: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Lloyd iterations from `centres`; an empty cluster restarts at a random point."""
    centres, restarts = centres.copy(), 0
    for _ in range(iters):
        assign = nearest(points, centres)
        for k in range(len(centres)):
            members = points[assign == k]
            if len(members):
                centres[k] = members.mean(axis=0)
            else:
                centres[k] = points[rng.integers(len(points))]
                restarts += 1
    return centres, restarts


def perplexity(index: np.ndarray) -> float:
    """exp(entropy of the code usage): CODEBOOK_SIZE when all codes are used equally."""
    usage = np.bincount(index, minlength=CODEBOOK_SIZE) / len(index)
    usage = usage[usage > 0]
    return float(np.exp(-(usage * np.log(usage)).sum()))


class Autoencoder:
    """x -> tanh(HIDDEN) -> h (LATENT_DIM) -> bottleneck z -> tanh(HIDDEN) -> tokens, globals."""

    def __init__(self, latent: str, n_in: int, rng: np.random.Generator) -> None:
        self.latent = latent
        width = LINEAR_DIM if latent == "linear" else LATENT_DIM

        def init(fan_in: int, fan_out: int) -> np.ndarray:
            return rng.normal(scale=1 / np.sqrt(fan_in), size=(fan_in, fan_out))

        self.p = {
            "W1": init(n_in, HIDDEN), "b1": np.zeros(HIDDEN),
            "W2": init(HIDDEN, LATENT_DIM), "b2": np.zeros(LATENT_DIM),
            "W3": init(width, HIDDEN), "b3": np.zeros(HIDDEN),
            "Wt": init(HIDDEN, SEQ_LEN * VOCAB), "bt": np.zeros(SEQ_LEN * VOCAB),
            # zero: with globals_beta = 0 the globals head stays at the mean (error 1.0)
            "Wg": np.zeros((HIDDEN, N_GLOBALS)), "bg": np.zeros(N_GLOBALS),
        }  # fmt: skip
        if latent == "linear":
            self.p["P"] = init(LATENT_DIM, LINEAR_DIM)
        self.codebook: np.ndarray | None = None  # set by the k-means fit after VQ_WARMUP
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.t = 0

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a1 = np.tanh(x @ self.p["W1"] + self.p["b1"])
        return a1, a1 @ self.p["W2"] + self.p["b2"]

    def bottleneck(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The code z the decoder sees and, once quantised, each row's codebook index."""
        if self.latent == "linear":
            return h @ self.p["P"], None
        if self.latent == "vq" and self.codebook is not None:
            index = nearest(h, self.codebook)
            return self.codebook[index], index
        return h, None

    def forward(self, x: np.ndarray) -> dict:
        """Every intermediate the backward pass needs, for one batch."""
        a1, h = self.encode(x)
        z, index = self.bottleneck(h)
        a3 = np.tanh(z @ self.p["W3"] + self.p["b3"])
        logits = (a3 @ self.p["Wt"] + self.p["bt"]).reshape(len(x), SEQ_LEN, VOCAB)
        globals_ = a3 @ self.p["Wg"] + self.p["bg"]
        return {
            "a1": a1,
            "h": h,
            "z": z,
            "index": index,
            "a3": a3,
            "probs": softmax(logits),
            "globals": globals_,
        }

    def predict(self, x: np.ndarray) -> dict:
        """forward() over a whole split, in batches (small products stay on one BLAS thread)."""
        parts = [self.forward(x[i : i + BATCH_SIZE]) for i in range(0, len(x), BATCH_SIZE)]
        return {
            k: None if parts[0][k] is None else np.concatenate([p[k] for p in parts])
            for k in parts[0]
        }

    def losses(self, out: dict, tokens: np.ndarray, globals_: np.ndarray, beta: float) -> dict:
        n = len(tokens)
        picked = out["probs"][np.arange(n)[:, None], np.arange(SEQ_LEN)[None], tokens]
        rec_tokens = float(-np.log(np.clip(picked, 1e-12, None)).mean())
        rec_globals = float(((out["globals"] - globals_) ** 2).mean())
        quantised = out["index"] is not None
        commitment = float(((out["h"] - out["z"]) ** 2).sum(1).mean()) if quantised else 0.0
        total = rec_tokens + beta * rec_globals + COMMITMENT * commitment
        return {"rec_tokens": rec_tokens, "rec_globals": rec_globals, "total_loss": total}

    def backward(self, x, out, tokens, globals_, beta: float) -> dict[str, np.ndarray]:
        """Gradients of total_loss (as computed by `losses`) for one batch."""
        n, p, g = len(x), self.p, {}
        d_logits = out["probs"].copy()  # cross-entropy averaged over n * SEQ_LEN tokens
        d_logits[np.arange(n)[:, None], np.arange(SEQ_LEN)[None], tokens] -= 1
        d_logits = d_logits.reshape(n, -1) / (n * SEQ_LEN)
        d_glob = beta * 2 * (out["globals"] - globals_) / (n * N_GLOBALS)
        g["Wt"], g["bt"] = out["a3"].T @ d_logits, d_logits.sum(0)
        g["Wg"], g["bg"] = out["a3"].T @ d_glob, d_glob.sum(0)
        d_a3 = (d_logits @ p["Wt"].T + d_glob @ p["Wg"].T) * (1 - out["a3"] ** 2)
        g["W3"], g["b3"] = out["z"].T @ d_a3, d_a3.sum(0)
        d_z = d_a3 @ p["W3"].T
        if self.latent == "linear":
            g["P"] = out["h"].T @ d_z
            d_h = d_z @ p["P"].T
        elif out["index"] is not None:  # straight through the quantiser, plus commitment
            d_h = d_z + COMMITMENT * 2 * (out["h"] - out["z"]) / n
        else:
            d_h = d_z
        g["W2"], g["b2"] = out["a1"].T @ d_h, d_h.sum(0)
        d_a1 = d_h @ p["W2"].T * (1 - out["a1"] ** 2)
        g["W1"], g["b1"] = x.T @ d_a1, d_a1.sum(0)
        return g

    def adam_step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        self.t += 1
        for k, grad in grads.items():
            self.m[k] = 0.9 * self.m[k] + 0.1 * grad
            self.v[k] = 0.999 * self.v[k] + 0.001 * grad**2
            m_hat, v_hat = self.m[k] / (1 - 0.9**self.t), self.v[k] / (1 - 0.999**self.t)
            self.p[k] -= lr * m_hat / (np.sqrt(v_hat) + 1e-8)


@pytest.mark.experiment(
    tags=["grid", "autoencoder"],
    metric="rec_tokens",
    mode="min",
    testing={
        "N_TRAIN": 400,
        "N_TEST": 100,
        "EPOCHS": 6,
        "VQ_WARMUP": 2,
        "LEARNING_RATE": 0.012,
    },
)
@pytest.mark.parametrize("globals_beta", [0, 1, 10])
@pytest.mark.parametrize("latent", ["none", "linear", "vq"])
def test_latent_spaces(exp, latent: str, globals_beta: float) -> None:
    """Autoencode token sequences plus global features through a none/linear/vq bottleneck.

    Tracks held-out rec_tokens, rec_globals and total_loss (for vq including the
    commitment term) every epoch, and the vq codebook's perplexity; checks that training
    lowered the loss and that the code tells the decoder more about the tokens than
    their per-position frequencies do.
    """
    rng = exp.rng  # the data, the initial weights and the batches all follow exp.seed
    truth = make_truth(rng)
    train, test = make_data(rng, exp.N_TRAIN, truth), make_data(rng, exp.N_TEST, truth)
    mean, std = train["globals"].mean(0), train["globals"].std(0)
    for split in (train, test):
        split["globals"] = (split["globals"] - mean) / std
    x_train, x_test = features(train), features(test)

    # two yardsticks for rec_tokens: a decoder that ignores the code (per-position token
    # frequencies) and one that knows each record's true topic and style
    counts = np.stack([np.bincount(train["tokens"][:, t], minlength=VOCAB) for t in range(SEQ_LEN)])
    freq = (counts + 1) / (counts + 1).sum(1, keepdims=True)
    ce_no_code = float(-np.log(freq[np.arange(SEQ_LEN), test["tokens"]]).mean())
    exp["reference/token_ce_no_code"] = ce_no_code
    exp["reference/token_ce_true_factors"] = float(test["entropy"].mean())
    exp.log(
        f"{len(x_train)} training, {len(x_test)} test records of {x_train.shape[1]} features; "
        f"token cross-entropy without a code {ce_no_code:.3f}, "
        f"knowing topic and style {test['entropy'].mean():.3f}"
    )

    model = Autoencoder(latent, x_train.shape[1], rng)
    initial = model.losses(model.predict(x_test), test["tokens"], test["globals"], globals_beta)
    exp.log(f"before training: {initial}")
    restarts = 0
    for epoch in range(exp.EPOCHS):
        if latent == "vq" and epoch == exp.VQ_WARMUP:
            h = model.predict(x_train)["h"]
            seeds = kmeans_plus_plus(h, exp.CODEBOOK_SIZE, rng)
            model.codebook, restarts = kmeans(h, seeds, 20, rng)
            exp.log(f"epoch {epoch}: codebook of {exp.CODEBOOK_SIZE} codes fitted by k-means")
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), exp.BATCH_SIZE):
            batch = order[start : start + exp.BATCH_SIZE]
            out = model.forward(x_train[batch])
            grads = model.backward(
                x_train[batch], out, train["tokens"][batch], train["globals"][batch], globals_beta
            )
            model.adam_step(grads, exp.LEARNING_RATE)
        if model.codebook is not None:  # refit the codebook to where the encoder moved
            h = model.predict(x_train)["h"]
            model.codebook, dead = kmeans(h, model.codebook, exp.KMEANS_ITERS, rng)
            restarts += dead
        out = model.predict(x_test)
        losses = model.losses(out, test["tokens"], test["globals"], globals_beta)
        exp.track_many(losses, step=epoch)
        if out["index"] is not None:
            exp.track("codebook_perplexity", perplexity(out["index"]), step=epoch)

    exp["results/token_accuracy"] = float((out["probs"].argmax(axis=2) == test["tokens"]).mean())
    exp.log(f"final: {losses}")

    with exp.component("globals_probe") as probe:
        # how much of the globals' own factor the code holds, whatever the decoder makes of it
        z_train = np.hstack([model.predict(x_train)["z"], np.ones((len(x_train), 1))])
        z_test = np.hstack([out["z"], np.ones((len(x_test), 1))])
        weights = np.linalg.lstsq(z_train, train["factor"], rcond=None)[0]
        residual = ((z_test @ weights - test["factor"]) ** 2).sum()
        r2 = float(1 - residual / ((test["factor"] - test["factor"].mean(0)) ** 2).sum())
        probe.data["factor_r2"] = r2
        exp["results/factor_r2"] = r2

    if latent != "vq":
        exp.component("codebook").disable(
            f"latent is {latent!r}: the bottleneck has no codebook", hint="-k vq"
        )
    elif model.codebook is None:
        exp.component("codebook").disable(
            f"EPOCHS ({exp.EPOCHS}) <= VQ_WARMUP ({exp.VQ_WARMUP}): never quantised",
            hint=f"--exp-set EPOCHS={exp.VQ_WARMUP + 10}",
        )
    else:
        with exp.component("codebook") as codebook:
            usage = np.bincount(out["index"], minlength=exp.CODEBOOK_SIZE)
            # purity: the share of test records whose code's majority topic is their own
            purity = sum(
                np.bincount(test["topic"][out["index"] == k]).max() for k in np.unique(out["index"])
            )
            codebook.data.update(
                size=exp.CODEBOOK_SIZE,
                codes_used=int((usage > 0).sum()),
                perplexity=perplexity(out["index"]),
                dead_code_restarts=restarts,
                topic_purity=float(purity / len(out["index"])),
            )
            exp.commit_json("codebook.json", {"codebook": model.codebook, "usage": usage})

    with exp.component("figure"):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 3.8))
        ax = fig.add_subplot(1, 2, 1)
        code = out["h"] if latent == "vq" else out["z"]  # vq: the encoder outputs, pre-snap
        centre = code.mean(0)
        axes = np.linalg.svd(code - centre, full_matrices=False)[2][:2].T
        shown = (code - centre) @ axes
        ax.scatter(shown[:, 0], shown[:, 1], c=test["topic"], cmap="tab10", s=6, alpha=0.7)
        if model.codebook is not None:
            words = (model.codebook - centre) @ axes
            ax.scatter(words[:, 0], words[:, 1], marker="x", c="black", s=40, label="codebook")
            ax.legend(loc="upper right")  # "best" searches every point: slow
        ax.set_title("code on its first two principal axes (colour: topic)", fontsize=9)
        ax = fig.add_subplot(1, 2, 2)
        ax.scatter(test["globals"][:, 0], out["globals"][:, 0], s=6, alpha=0.6)
        ax.plot([-3, 3], [-3, 3], color="grey", lw=1)
        ax.set_xlabel("global feature 0 (standardised)")
        ax.set_ylabel("reconstruction")
        ax.set_title(f"latent={latent}, globals_beta={globals_beta}", fontsize=9)
        fig.subplots_adjust(left=0.06, right=0.98, bottom=0.13, top=0.92, wspace=0.22)
        exp.commit_fig("latent_space.png", fig)

    assert losses["total_loss"] < initial["total_loss"], "training did not lower the loss"
    assert losses["rec_tokens"] < ce_no_code - 0.05, (
        f"rec_tokens {losses['rec_tokens']:.3f} is no better than ignoring the code "
        f"({ce_no_code:.3f}): the bottleneck carries no token information"
    )
