"""`make bench`: camstream's CPU, memory, latency and recovery measured side by side with the alternatives.

cases.py builds every command line (pure), measure.py samples process trees with psutil,
report.py renders results.md (pure), run.py runs the cases and is the entry point
(`python -m bench.run`, `--quick` for a 3-second variant).
"""
