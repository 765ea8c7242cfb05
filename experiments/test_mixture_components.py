"""Mixture components: a Gaussian mixture fitted by EM, its loss split the way a VAE's is.

Two-dimensional points are drawn from a known mixture of three Gaussians with correlated
covariances and unequal weights; a mixture of `n_components` = 2, 3 or 5 Gaussians is fitted
by expectation-maximisation (numpy), three times per grid point with its own seed each
(new samples, new initial means), so the table gives a mean and a standard deviation.

With q(z|x) the responsibilities of the E-step and pi the mixing weights, the per-point
negative log-likelihood splits exactly like a VAE's negative ELBO (exactly, because q is
the posterior of the current parameters):

    loss.total = -log p(x) = E_q[-log N(x | mu_z, Sigma_z)] + KL(q(z|x) || pi)
                           =          loss.recon             +     loss.kl.z

EM never raises loss.total; the test checks that. The losses are measured on the training
points, where more components always fit better (the table's main metric favours K=5);
`results/excess_test_nll`, the held-out negative log-likelihood minus the true mixture's,
is the fair comparison: about zero from three components on, clearly positive with two.
Two components report on the fit: `effective_components` records k_eff = exp(entropy of
the mixing weights), and `pruning` (off by default) drops components whose weight falls
below PRUNE_BELOW during EM.

    pytest experiments/test_mixture_components.py -n 2                  # 3 x 3 runs
    pytest experiments/test_mixture_components.py --exp-set USE_PRUNING=true -k 5
    pytest experiments/test_mixture_components.py --exp-testing         # a smoke run
"""

from __future__ import annotations

import numpy as np
import pytest

N_SAMPLES: int = 2000  # training points; as many again are held out
MAX_ITERS: int = 200
TOL: float = 1e-6  # stop when loss.total improves by less than this
REG_COVAR: float = 1e-6  # added to every covariance's diagonal
USE_PRUNING: bool = False
PRUNE_BELOW: float = 0.05  # mixing weight under which pruning drops a component
SEED: int = 0


def true_mixture() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mixture the data come from: weights (3,), means (3, 2), covariances (3, 2, 2)."""
    weights = np.array([0.5, 0.3, 0.2])
    means = np.array([[-2.0, 0.0], [2.0, 1.0], [0.0, 3.5]])
    covariances = np.array(
        [[[1.0, 0.6], [0.6, 0.8]], [[0.6, -0.3], [-0.3, 0.9]], [[0.4, 0.0], [0.0, 0.3]]]
    )
    return weights, means, covariances


def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    weights, means, covariances = true_mixture()
    labels = rng.choice(len(weights), size=n, p=weights)
    noise = rng.standard_normal((n, 2))
    points = means[labels] + np.einsum("nij,nj->ni", np.linalg.cholesky(covariances)[labels], noise)
    return points, labels


def log_gaussians(x: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """log N(x_n | mu_k, Sigma_k) for every point and component: (n, K)."""
    diff = x[:, None, :] - means[None]  # (n, K, d)
    mahalanobis = np.einsum("nki,kij,nkj->nk", diff, np.linalg.inv(covariances), diff)
    log_det = np.linalg.slogdet(covariances)[1]
    return -0.5 * (mahalanobis + log_det + x.shape[1] * np.log(2 * np.pi))


def log_likelihood(x, weights, means, covariances) -> np.ndarray:
    """log p(x_n) under a mixture: (n,)."""
    joint = np.log(weights) + log_gaussians(x, means, covariances)
    top = joint.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(joint - top).sum(axis=1, keepdims=True)))[:, 0]


def e_step(x, weights, means, covariances) -> tuple[np.ndarray, dict[str, float]]:
    """Responsibilities q(z|x) and the loss terms (mean per point, nats)."""
    log_px_z = log_gaussians(x, means, covariances)
    joint = np.log(weights) + log_px_z
    log_q = joint - log_likelihood(x, weights, means, covariances)[:, None]
    q = np.exp(log_q)
    recon = float(-(q * log_px_z).sum(axis=1).mean())  # E_q[-log p(x|z)]
    kl = float((q * (log_q - np.log(weights))).sum(axis=1).mean())  # KL(q(z|x) || pi)
    return q, {"loss.total": recon + kl, "loss.recon": recon, "loss.kl.z": kl}


def m_step(x, q) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = q.sum(axis=0)
    means = q.T @ x / counts[:, None]
    diff = x[:, None, :] - means[None]
    covariances = np.einsum("nk,nki,nkj->kij", q, diff, diff) / counts[:, None, None]
    covariances += REG_COVAR * np.eye(x.shape[1])
    return counts / len(x), means, covariances


def initial_means(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each next mean is a point drawn in proportion to its squared distance."""
    means = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = ((x[:, None, :] - np.array(means)[None]) ** 2).sum(axis=2).min(axis=1)
        means.append(x[rng.choice(len(x), p=d2 / d2.sum())])
    return np.array(means)


def ellipse(mean: np.ndarray, covariance: np.ndarray, radius: float = 2.0) -> np.ndarray:
    """Points on the `radius`-sigma contour of a 2-D Gaussian."""
    angle = np.linspace(0, 2 * np.pi, 100)
    circle = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return mean + radius * circle @ np.linalg.cholesky(covariance).T


@pytest.mark.experiment(
    tags=["em", "mixture"],
    metric="loss.total",
    mode="min",
    repeats=3,
    testing={"N_SAMPLES": 1000, "MAX_ITERS": 60},
)
@pytest.mark.parametrize("n_components", [2, 3, 5])
def test_mixture_components(exp, n_components: int) -> None:
    """Fit a Gaussian mixture by EM; track loss.total = loss.recon + loss.kl.z per iteration.

    Checks that EM never raised the loss and that a mixture with at least the true number
    of components comes close to the true mixture's held-out likelihood.
    """
    rng = exp.rng  # exp.seed = SEED + repeat: each repeat draws new data and new initial means
    x, _ = sample(rng, exp.N_SAMPLES)
    x_test, _ = sample(rng, exp.N_SAMPLES)
    true_weights, true_means, true_covariances = true_mixture()
    true_nll = float(-log_likelihood(x_test, true_weights, true_means, true_covariances).mean())
    exp.log(f"{len(x)} points from {len(true_weights)} components; fitting {n_components}")

    weights = np.full(n_components, 1 / n_components)
    means = initial_means(x, n_components, rng)
    covariances = np.repeat(np.cov(x.T)[None], n_components, axis=0)
    previous, worst_rise, pruned = None, -np.inf, 0
    for iteration in range(exp.MAX_ITERS):
        q, losses = e_step(x, weights, means, covariances)
        exp.track_many(losses, step=iteration)
        if previous is not None:
            worst_rise = max(worst_rise, losses["loss.total"] - previous)
            if previous - losses["loss.total"] < exp.TOL:
                exp.log(f"converged after {iteration} iterations")
                break
        previous = losses["loss.total"]
        weights, means, covariances = m_step(x, q)
        if exp.USE_PRUNING and (weights < exp.PRUNE_BELOW).any() and len(weights) > 1:
            keep = weights >= exp.PRUNE_BELOW
            pruned += int((~keep).sum())
            exp.log(f"iteration {iteration}: pruned {(~keep).sum()} component(s)")
            weights, means, covariances = (
                weights[keep] / weights[keep].sum(),
                means[keep],
                covariances[keep],
            )
            previous = None  # a smaller model: its loss may be higher

    test_nll = float(-log_likelihood(x_test, weights, means, covariances).mean())
    exp["results/iterations"] = iteration + 1
    exp["results/test_nll"] = test_nll
    exp["results/excess_test_nll"] = test_nll - true_nll
    # how far the worst-recovered true mean is from the nearest fitted one
    distances = np.linalg.norm(true_means[:, None] - means[None], axis=2).min(axis=1)
    exp["results/worst_mean_error"] = float(distances.max())
    exp.commit_json(
        "mixture.json",
        {
            "weights": weights,
            "means": means,
            "covariances": covariances,
            "iterations": iteration + 1,
        },
    )

    if not exp.USE_PRUNING:
        exp.component("pruning").disable("USE_PRUNING is False", hint="--exp-set USE_PRUNING=true")
    else:
        with exp.component("pruning") as pruning:
            pruning.data["pruned"] = pruned
            pruning.data["kept"] = len(weights)

    with exp.component("effective_components") as effective:
        k_eff = float(np.exp(-(weights * np.log(weights)).sum()))
        effective.data["k_eff"] = k_eff
        effective.data["above_5_percent"] = int((weights > 0.05).sum())
        effective.data["weights"] = np.sort(weights)[::-1]
        exp["results/k_eff"] = k_eff

    with exp.component("figure"):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5, 4.2))
        ax = fig.add_subplot()
        ax.scatter(x[:, 0], x[:, 1], c=q.argmax(axis=1), cmap="tab10", s=4, alpha=0.5)
        for mean, covariance in zip(true_means, true_covariances, strict=True):
            ax.plot(*ellipse(mean, covariance).T, color="grey", ls="--", lw=1)
        for weight, mean, covariance in zip(weights, means, covariances, strict=True):
            ax.plot(*ellipse(mean, covariance).T, color="black", lw=1.2)
            ax.annotate(f"{weight:.2f}", mean, ha="center", fontsize=8)
        ax.set_title(
            f"K={n_components}, seed {exp.seed}: fitted (black) and true (dashed) 2-sigma contours",
            fontsize=8,
        )
        ax.set_aspect("equal")
        exp.commit_fig("mixture.png", fig)

    assert worst_rise <= 1e-8, f"EM raised loss.total by {worst_rise:.2e} in one iteration"
    if len(weights) >= len(true_weights):
        # a fitted model pays about (its parameter count) / (2 N) nats of overfitting
        n_params = len(weights) * 6 - 1  # per component: weight, 2 mean, 3 covariance entries
        allowed = 0.03 + n_params / (2 * exp.N_SAMPLES)
        assert test_nll - true_nll < allowed, (
            f"held-out NLL {test_nll:.3f} is {test_nll - true_nll:.3f} nats above the true "
            f"mixture's (allowed {allowed:.3f}) with {len(weights)} components"
        )
