"""The base experiment of test_variants.py: polynomial ridge regression of a skewed input.

This is a plain module (its name does not start with `test_`), so pytest never
collects it, and its class is not named `Test...`, so it is not an experiment
even where it is imported: it runs only through the `Test...` classes of
test_variants.py that subclass it. Those classes inherit its parameters (the
UPPERCASE class attributes), its test method with its marker and grid, its
`preprocess` hook and this module's `basis` hook, and each run copies this
module into its code/ folder beside test_variants.py.

The task: x is log-uniform on [X_LOW, X_HIGH] (most points are small, a few
are large) and y = sin(1.5 ln x) + noise. The fit is ridge regression on a
polynomial basis of the preprocessed input; the test RMSE says how well the
preprocessing, the degree and the ridge strength suit a skewed input.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_expharness import hook


def truth(x: np.ndarray) -> np.ndarray:
    return np.sin(1.5 * np.log(x))


@hook("basis")
def monomials(exp, data: np.ndarray) -> np.ndarray:
    """The fallback basis 1, z, ..., z**DEGREE: no class defines a `basis` hook.

    A method `@hook("basis")` in a variant, or a module function in
    test_variants.py, would be found first (classes, most derived first, then
    the test's module, then this one).
    """
    return np.vander(data, exp.DEGREE + 1, increasing=True)


def ridge(features: np.ndarray, y: np.ndarray, strength: float) -> np.ndarray:
    """Least squares with an L2 penalty on every coefficient but the first (the intercept).

    Solved as an augmented least-squares problem, which stays accurate when the
    basis is badly conditioned (normal equations would square the condition number).
    """
    penalty = np.sqrt(strength * len(y)) * np.eye(features.shape[1])[1:]
    stacked = np.vstack([features, penalty])
    target = np.concatenate([y, np.zeros(len(penalty))])
    return np.linalg.lstsq(stacked, target, rcond=None)[0]


class RidgeExperiment:
    """Polynomial ridge regression on the standardised input."""

    N_TEST: int = 2000
    X_LOW: float = 0.1
    X_HIGH: float = 100.0
    NOISE: float = 0.1
    DEGREE: int = 7
    RIDGE: float = 1e-4
    SEED: int = 3
    MAX_TEST_RMSE: float | None = None  # a variant's claim, checked at the end; None: none

    @hook("preprocess")
    def standardise(self, exp, data: tuple[np.ndarray, np.ndarray]):
        """Centre and scale both inputs with the training mean and standard deviation."""
        train, test = data
        mean, std = train.mean(), train.std()
        return (train - mean) / std, (test - mean) / std

    @pytest.mark.experiment(
        metric="rmse_test", mode="min", tags=["variants"], testing={"N_TEST": 200}
    )
    @pytest.mark.parametrize("n_train", [30, 300])
    def test_fit(self, exp, n_train: int) -> None:
        rng = exp.rng  # the same SEED in every variant: every variant sees the same data
        low, high = np.log(exp.X_LOW), np.log(exp.X_HIGH)
        x_train = np.exp(rng.uniform(low, high, size=n_train))
        x_test = np.exp(rng.uniform(low, high, size=exp.N_TEST))
        y_train = truth(x_train) + exp.NOISE * rng.normal(size=n_train)
        y_test = truth(x_test) + exp.NOISE * rng.normal(size=exp.N_TEST)

        # the class's hook (the most derived one); the default would be the raw input
        z_train, z_test = exp.apply_hook(
            "preprocess", data=(x_train, x_test), default=(x_train, x_test)
        )
        basis_train = exp.apply_hook("basis", data=z_train)
        basis_test = exp.apply_hook("basis", data=z_test)
        coefficients = ridge(basis_train, y_train, exp.RIDGE)

        fit_train, fit_test = basis_train @ coefficients, basis_test @ coefficients
        rmse_train = float(np.sqrt(np.mean((fit_train - y_train) ** 2)))
        rmse_test = float(np.sqrt(np.mean((fit_test - y_test) ** 2)))
        # test points inside the training range: interpolation, without the extrapolation
        inside = (x_test >= x_train.min()) & (x_test <= x_train.max())
        exp["results/rmse_train"] = rmse_train
        exp["results/rmse_test"] = rmse_test
        exp["results/rmse_inside"] = float(np.sqrt(np.mean((fit_test - y_test)[inside] ** 2)))
        exp["results/r2_test"] = 1 - rmse_test**2 / float(np.var(y_test))
        exp["results/condition"] = float(np.linalg.cond(basis_train))
        exp["coefficients"] = coefficients
        exp.log(f"{type(self).__name__}: n_train={n_train}, test RMSE {rmse_test:.4f}")

        with exp.component("figure"):
            from matplotlib.figure import Figure

            grid = np.geomspace(exp.X_LOW, exp.X_HIGH, 400)
            z_grid = exp.apply_hook("preprocess", data=(x_train, grid))[1]
            fig = Figure(figsize=(5.5, 3.5))
            ax = fig.add_subplot()
            ax.plot(grid, truth(grid), color="grey", label="truth")
            ax.scatter(x_train, y_train, s=8, color="black", label=f"train (n={n_train})")
            ax.plot(grid, exp.apply_hook("basis", data=z_grid) @ coefficients, label="fit")
            ax.set_xscale("log")
            ax.set_ylim(-2, 2)
            ax.set_xlabel("x")
            ax.set_title(f"{exp.experiment}: test RMSE {rmse_test:.3f}")
            ax.legend(loc="upper left", fontsize="small")
            exp.commit_fig("fit.png", fig)

        # sound whatever the variant: the fit explains its own training data better than
        # their mean, and no fit beats the noise level on a test set this large
        assert rmse_train < np.std(y_train), f"training RMSE {rmse_train:.3f}: no fit at all"
        assert rmse_test > 0.8 * exp.NOISE, f"test RMSE {rmse_test:.3f} below the noise: a leak?"
        if exp.MAX_TEST_RMSE is not None:  # what the variant claims
            assert rmse_test <= exp.MAX_TEST_RMSE, f"test RMSE {rmse_test:.3f}: claim not met"
