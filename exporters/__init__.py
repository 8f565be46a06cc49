"""AlisChain Monitoring: Prometheus exporters for the AlisChain platform."""

__version__ = "0.1.0"
