"""Benchmarks: drivers that run standard tools in lab namespaces, and their statistics."""
