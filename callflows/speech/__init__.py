"""Speech layer: phone codec, voice activity/endpointing, speech to text, text to speech.

Modules: codec (mu-law, resampling, framing), vad (VoiceActivity, Endpointer, is_backchannel),
stt (SpeechRecognizer, WhisperRecognizer, VoskRecognizer), tts (PiperTTS, PromptCache,
normalize_for_speech), expectation (Expectation), registry (models loaded once per process),
bias (slot prompts and grammars), download (model zip by URL + sha256), textnorm.
Heavy engines (piper, faster-whisper, vosk) are imported lazily, when a model is loaded.
"""

from .expectation import Expectation

__all__ = ["Expectation"]
