"""Benchmarks; each prints JSON with a same-run reference."""
