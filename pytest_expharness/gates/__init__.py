"""Gates: results as test outcomes. Expectations on final values (`expect=`,
`exp.expect`) and regression baselines (plain JSON files beside the module, or
the archive's runs labelled `baseline`), compared with tolerances when a run's
test body returns; a failed gate fails the test and leaves the run completed.
"""
