"""`kubenetlab audit`: find data-path overhead and breakage in real configurations (pure)."""
