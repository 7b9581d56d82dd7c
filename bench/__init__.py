"""chartguard benchmarks: ``python -m bench [NAME ...]`` runs ``bench/bench_<name>.py``."""
