"""Benchmarks: see bench/handoff_bench.py."""
