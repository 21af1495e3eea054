"""customhouse: inspect every container that enters or runs."""

from customhouse import _native

__version__ = "0.1.0"

_native.install()  # before any module of the compiled group can be imported
