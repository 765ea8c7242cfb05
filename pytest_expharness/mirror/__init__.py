"""Mirrors of archived runs in other tools: MLflow runs and TensorBoard event files.

Owns `expharness export --mlflow/--tensorboard` and `--exp-mlflow` (the controller
mirrors its session's runs when the session ends). Reads run folders through
catalog/ and archive/ and never writes them; MLflow and TensorBoard are optional
extras, imported only when a mirror is made (see docs/mirror.md).
"""
