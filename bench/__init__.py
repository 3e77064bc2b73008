"""topicwatch benchmarks: ``python -m bench [--quick] [--only NAME,...]``.

Every row is a ratio to a baseline measured in the same run, so the figures hold on a
noisy machine. Results print as a table and are written to docs/benchmarks.md.
"""
