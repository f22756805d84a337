"""Import-time stand-in for TensorFlow on the lent GPU machine (not installed
there, too big to carry): clu.metric_writers and TensorBoard's hparams plugin
import it at module level; the benchmarks never call it. Every attribute is
the class `_Any` (a type, so isinstance checks and subclassing work)."""
__version__ = "0.0.0-stub"


class _Meta(type):
  def __getattr__(cls, name):
    if name.startswith("__"):
      raise AttributeError(name)
    return _Any


class _Any(metaclass=_Meta):
  def __init__(self, *a, **k):
    pass

  def __getattr__(self, name):
    if name.startswith("__"):
      raise AttributeError(name)
    return _Any

  def __call__(self, *a, **k):
    return _Any()


def __getattr__(name):
  if name.startswith("__"):
    raise AttributeError(name)
  return _Any
