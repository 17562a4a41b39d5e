"""Speech layer: phone codec, voice activity/endpointing, speech to text, text to speech.

Modules: codec (mu-law, resampling, framing), vad (VoiceActivity, Endpointer, is_backchannel),
stt/ (the SpeechRecognizer contract; whisper, vosk), tts/ (the TextToSpeech contract; piper,
prompt_cache), expectation (Expectation), registry (models loaded once per process), bias (slot
prompts, grammars and restricted vocabularies), token_constraint (Whisper restricted to a slot's
words), download (model zip by URL + sha256), textnorm.
Heavy engines (piper, faster-whisper, vosk) are imported lazily, when a model is loaded.
"""

from .expectation import Expectation

__all__ = ["Expectation"]
