"""Detection engine: data, models, training, evaluation and ONNX export.

Plain Python and torch; it never imports Django, so the same code runs in a Celery
worker, a test or ``python -m training.ml``. The studio talks to it through
:func:`training.ml.engine.train`, :func:`training.ml.evaluate.evaluate_checkpoint`
and :func:`training.ml.export.export_onnx`.
"""
