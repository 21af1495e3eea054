"""customhouse: inspect every container that enters or runs."""

__version__ = "0.1.0"
