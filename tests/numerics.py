"""Float comparisons that hold on any x86-64 CPU.

XLA emits different vector code for AVX-512, AVX2 and SSE (see
../shared/FACTS.md), so sums are reassociated and the last bits of a float32
result change from one machine to the next. An absolute tolerance is wrong
for every scale but one; these bounds scale with the values compared.
"""

import numpy as np


def assert_close(actual, desired, rel: float = 1e-5, err_msg: str = "") -> None:
  """max |actual - desired| <= rel * max |desired| (a norm-wise relative error).

  Element-wise rtol fails near zeros (a residual that crosses zero differs
  by a rounding error that is large relative to itself); a bound relative to
  the largest value is what float32 rounding actually guarantees.
  """
  actual = np.asarray(actual, np.float64)
  desired = np.asarray(desired, np.float64)
  assert actual.shape == desired.shape, (actual.shape, desired.shape, err_msg)
  scale = float(np.abs(desired).max()) if desired.size else 0.0
  np.testing.assert_allclose(actual, desired, rtol=0, atol=rel * max(scale, 1e-30),
                             err_msg=err_msg)
