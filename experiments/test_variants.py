"""Variants by inheritance, and hooks: four experiments from one base class.

The base lives in variants_base.py, a plain module pytest does not collect, as
`RidgeExperiment` (not a `Test...` class, so it never runs on its own, even
where it is imported). Here `TestBaseline` subclasses it unchanged and is the
experiment "Baseline.fit"; the three variants subclass `TestBaseline`, so each
is its own experiment whose config.yaml records `parent: Baseline.fit` and its
`test_class`:

- `TestHighDegree` overrides a parameter: DEGREE = 15;
- `TestStrongRidge` overrides a parameter: RIDGE = 0.1;
- `TestLogInput` overrides the `preprocess` hook: log, then standardise; it
  also claims a test RMSE of at most twice the noise (MAX_TEST_RMSE), which the
  test checks.

The test method (`RidgeExperiment.test_fit`) calls
`exp.apply_hook("preprocess", data=(x_train, x_test), default=...)`, which runs
the most derived class's `@hook("preprocess")` method, and
`exp.apply_hook("basis", data=z)`, which no class defines: the module-level
`@hook("basis")` function of variants_base.py answers as the fallback. Every
variant sees the same data (the same SEED) at two training sizes (the grid), so
the test RMSEs compare: on a log-uniform input, no polynomial degree or ridge
strength makes up for the wrong preprocessing. Fitted on the standardised x, a
polynomial extrapolates wildly beyond the largest training x (compare
`rmse_test` with `rmse_inside`, the test points inside the training range) and
is badly conditioned (`condition`); fitted on log x its test RMSE is close to
the noise level (0.1) at both sizes. Every run asserts that its fit is sound (better
than the mean on its training data, not better than the noise on the test
data); TestLogInput also asserts its claim.

The base is reached through its module (`import variants_base`), which works
for any base class: `from variants_base import RidgeExperiment` would work too,
as its name does not start with `Test`, but a `Test...` class imported that way
is deselected in the importing module. `import variants_base` works because
pytest puts experiments/ (no __init__.py) on sys.path (the default import mode).

    pytest experiments/test_variants.py -n 2                  # 4 experiments x 2 sizes
    pytest experiments/test_variants.py -k LogInput           # one variant
    pytest experiments/test_variants.py --exp-set DEGREE=9        # every variant, HighDegree too
    expharness compare --session <session>                    # the variants side by side
"""

from __future__ import annotations

import numpy as np
import variants_base

from pytest_expharness import hook


class TestBaseline(variants_base.RidgeExperiment):
    """The base as it is: degree 7 on the standardised input."""


class TestHighDegree(TestBaseline):
    """More flexible: degree 15 on the standardised input."""

    DEGREE = 15


class TestStrongRidge(TestBaseline):
    """Stronger shrinkage: ridge 0.1 on the standardised input."""

    RIDGE = 0.1


class TestLogInput(TestBaseline):
    """The input's logarithm, standardised: degree 7 on a well spread input."""

    MAX_TEST_RMSE = 0.2  # twice the noise

    @hook("preprocess")
    def log_standardise(self, exp, data: tuple[np.ndarray, np.ndarray]):
        train, test = data
        return self.standardise(exp, (np.log(train), np.log(test)))
