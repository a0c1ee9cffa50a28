"""ONNX for gdlab's estimators: ``import gdlab.onnx`` registers skl2onnx converters for
:class:`~gdlab.GDClassifier` and :class:`~gdlab.GDRegressor`, so that ``skl2onnx.to_onnx``
converts them, alone or in a scikit-learn Pipeline, as it converts scikit-learn's own models.

>>> import gdlab.onnx                                             # doctest: +SKIP
>>> from skl2onnx import to_onnx                                  # doctest: +SKIP
>>> pipe = make_pipeline(StandardScaler(), GDClassifier(batchnorm=True)).fit(X, y)  # doctest: +SKIP
>>> onx = to_onnx(pipe, X[:1].astype("float32"), options={"zipmap": False})  # doctest: +SKIP

What the converters cover (BatchNorm, per-layer, leaky and ELU activations, a regressor's
output in the target's units) and the outputs they write are in :mod:`gdlab.onnx.converters`;
how each layer becomes ONNX operators is in :mod:`gdlab.onnx.network`. ``gdlab export RUN_DIR
--onnx FILE`` (:mod:`gdlab.lab.run_export`) exports a run's whole model, preprocessing
included. The converters need onnx and skl2onnx, and checking an export onnxruntime: the extra
``pip install 'gdlab[onnx]'`` installs the three.
"""

from __future__ import annotations

#: what installs what gdlab's ONNX export needs
INSTALL_HINT = "pip install 'gdlab[onnx]'"

try:
    import onnx  # noqa: F401
    import skl2onnx  # noqa: F401
except ImportError as exc:
    raise ImportError(f"gdlab's ONNX export needs onnx, skl2onnx and onnxruntime, and "
                      f"{exc.name or 'one of them'} is not installed: {INSTALL_HINT}",
                      name=exc.name) from exc

from gdlab.onnx.converters import register  # noqa: E402

register()

__all__ = ["INSTALL_HINT", "register"]
