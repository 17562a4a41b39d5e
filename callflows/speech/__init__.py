"""Speech layer: phone codec, voice activity/endpointing, speech to text, text to speech.

Heavy engines (piper, faster-whisper, vosk) are imported lazily, when a model is loaded.
"""

from .expectation import Expectation

__all__ = ["Expectation"]
