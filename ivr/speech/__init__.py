"""Offline Indonesian speech recognition for the hotline (Vosk).

``recognizer.VoskRecognizer`` implements ``ivr.ports.Recognizer`` with the model
bundled in ``model/``; ``train/`` holds the pipeline that builds that model
(``ivr model build``, needs the ``train`` extra); ``cli`` adds ``ivr asr ...`` and
``ivr model build``.
"""

from ivr.speech.recognizer import VoskRecognizer, default_model_dir, load_recognizer

__all__ = ["VoskRecognizer", "default_model_dir", "load_recognizer"]
