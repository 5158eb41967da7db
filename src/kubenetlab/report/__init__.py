"""Reports: tables, JSON and progress, all from plain results."""
