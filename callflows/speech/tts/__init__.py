"""Text to speech for the phone: the voice contract (``base``), the Piper backend (``piper``),
and ``prompt_cache`` for static prompts. Text normalisation lives in ``callflows.speech.textnorm``."""

from ..textnorm import normalize_for_speech, split_sentences
from .base import TextToSpeech
from .piper import PiperTTS, default_voice_paths
from .prompt_cache import PromptCache, write_atomic

__all__ = ["PiperTTS", "PromptCache", "TextToSpeech", "default_voice_paths", "normalize_for_speech",
           "split_sentences", "write_atomic"]
