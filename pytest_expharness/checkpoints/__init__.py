"""Checkpoints of long runs, and what resuming one from them carries over."""
