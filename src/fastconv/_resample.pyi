# Stub for the compiled module _resample.pyx.

import numpy as np
from numpy.typing import NDArray

def resample_2d(x: NDArray[np.floating], out: NDArray[np.floating],
                index_h: NDArray[np.int64], weight_h: NDArray[np.floating],
                count_h: NDArray[np.int64],
                index_w: NDArray[np.int64], weight_w: NDArray[np.floating],
                count_w: NDArray[np.int64],
                block: int, buffer_rows: int, n_threads: int) -> None: ...
def resample_rows(x: NDArray[np.floating], out: NDArray[np.floating],
                  index: NDArray[np.int64], weight: NDArray[np.floating],
                  count: NDArray[np.int64], n_threads: int) -> None: ...
