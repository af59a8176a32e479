"""The sync benchmark's parts (benchmarks/bench_sync.py is its entry point; README.md)."""
