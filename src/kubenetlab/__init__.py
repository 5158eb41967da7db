"""kubenetlab: Kubernetes network data paths built for real in network namespaces."""

__version__ = "0.1.0"
