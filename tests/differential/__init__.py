"""Differential fuzzing of jurigged: random multi-module projects and random edit
sequences, applied to a live `jurigged` process and compared after every quiet point
with a fresh interpreter importing the same files (see runner.py)."""
