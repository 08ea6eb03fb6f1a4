"""Shared type aliases."""

from __future__ import annotations

import os
from typing import Any, Union

import numpy as np
import numpy.typing as npt

PathLike = Union[str, "os.PathLike[str]"]
FloatArray = npt.NDArray[np.float32]
Affine = npt.NDArray[np.float64]
ParamDict = dict[str, Any]
