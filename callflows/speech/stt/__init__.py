"""Speech to text for 8 kHz phone audio: the recogniser contract (``base``) and one module per
backend (``whisper``: faster-whisper; ``vosk``: Kaldi streaming). ``cleanup`` trims decoder loops.
"""

from .base import RecognizerStream, SpeechRecognizer, Transcript
from .vosk import VoskRecognizer, VoskStream
from .whisper import WhisperRecognizer, WhisperStream

__all__ = ["RecognizerStream", "SpeechRecognizer", "Transcript", "VoskRecognizer", "VoskStream",
           "WhisperRecognizer", "WhisperStream"]
