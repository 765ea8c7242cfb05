"""Launchers beyond one machine: SLURM submission of a session, waiting, collecting its runs.

Owns the job folder and sbatch script; a task of a job is an ordinary pytest
session. Imports sweep and below (a collected job ends as a session does); only
the plugin and the CLI import it.
"""
