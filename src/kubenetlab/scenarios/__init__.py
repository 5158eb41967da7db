"""Scenarios: multi-lab experiments that answer one question each."""
