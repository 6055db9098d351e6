"""Benchmarks: `make bench` runs them all and writes a table (bench/results/)."""
