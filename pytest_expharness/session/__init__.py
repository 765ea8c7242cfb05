"""What one pytest session sets up and shares: its state, provenance, code snapshot, policies.

Owns the SessionState every run of a process reads, git and host provenance, the
code/ copy, the debug folder, the git policy, core sharing, GPUs, each run's resources,
and staying out of sessions without experiments. Imports plan and below; never run or sweep.
"""
