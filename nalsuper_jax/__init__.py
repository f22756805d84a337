"""NaLSuper in JAX: text-guided low-light image enhancement."""

__version__ = "0.1.0"
