"""The model manifest (models/manifest.yaml): install, assemble, verify, and resolve models by role.

    m = Manifest.load()                      # models/manifest.yaml of this checkout
    m.install("llm_small")                   # pip --no-deps, assemble, verify sha256 (tqdm bar)
    m.status()                               # [ModelStatus(role, present, size, verified, ...)]
    m.resolve("llm_small")                   # Path, honouring CALLFLOWS_MODEL_LLM_SMALL
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ChecksumError, ModelError
from .hashing import CHUNK, progress_bar, sha256_path, signature, size_of
from .overrides import HEX64, resolve_override

log = logging.getLogger(__name__)

_METHODS = ("concat", "file", "dir", "copy")
_VERIFIED = ".verified.json"


class ModelNotInstalled(ModelError):
    """The role's model is not on disk yet."""


@dataclass(frozen=True)
class ModelSpec:
    role: str
    description: str
    packages: tuple[str, ...]
    method: str
    module: str | None
    path: str | None
    parts: int
    target: Path  # absolute
    sha256: str
    size: int
    licence: str
    main: str | None = None
    test_only: bool = False
    same_as: str | None = None  # the role whose entry this is, when declared with same_as

    @property
    def is_dir(self) -> bool:
        return self.method == "dir" or (self.method == "copy" and self.main is not None)

    def part_modules(self) -> list[str]:
        assert self.module is not None
        return [self.module.format(i=i) for i in range(1, self.parts + 1)]


@dataclass
class ModelStatus:
    role: str
    present: bool
    size: int | None
    verified: bool
    path: Path
    expected_size: int
    sha256: str
    override: str | None = None  # CALLFLOWS_MODEL_<ROLE>, when set
    same_as: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


def _expand(template: str, parts: int) -> list[str]:
    return [template.format(i=i) for i in range(1, parts + 1)] if "{i}" in template else [template]


def default_manifest_path() -> Path:
    """CALLFLOWS_MODELS_MANIFEST, else models/manifest.yaml of this checkout, else ./models/manifest.yaml."""
    env = os.environ.get("CALLFLOWS_MODELS_MANIFEST")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2] / "models" / "manifest.yaml"
    return here if here.exists() else Path("models/manifest.yaml").resolve()


def env_override_name(role: str) -> str:
    return "CALLFLOWS_MODEL_" + re.sub(r"[^A-Za-z0-9]", "_", role).upper()


class Manifest:
    """A loaded manifest: model specs by role, groups of roles, and the cache folder."""

    def __init__(self, path: Path, specs: dict[str, ModelSpec], groups: dict[str, list[str]], cache_dir: Path) -> None:
        self.path = path
        self.specs = specs
        self.groups = groups
        self.cache_dir = cache_dir
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, path: str | Path | None = None, *, cache_dir: str | Path | None = None) -> "Manifest":
        """Parse and validate a manifest; errors name the role and field."""
        path = Path(path) if path is not None else default_manifest_path()
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise ModelError(f"model manifest not found: {path}") from None
        base = path.parent
        cache = Path(cache_dir or os.environ.get("CALLFLOWS_MODELS_DIR") or base / str(data.get("cache_dir", ".cache")))
        if not cache.is_absolute():
            cache = (base / cache).resolve()
        raw: dict[str, Any] = data.get("models") or {}
        if not isinstance(raw, dict) or not raw:
            raise ModelError(f"{path}: 'models' must map roles to entries")
        specs: dict[str, ModelSpec] = {}
        for role, entry in raw.items():
            if isinstance(entry, dict) and "same_as" in entry:
                continue
            specs[role] = cls._parse(path, base, cache, role, entry)
        for role, entry in raw.items():
            if isinstance(entry, dict) and "same_as" in entry:
                other = entry["same_as"]
                if other not in specs:
                    raise ModelError(f"{path}: models.{role}.same_as names an unknown role {other!r}")
                base_spec = specs[other]
                specs[role] = ModelSpec(**{**base_spec.__dict__, "role": role, "same_as": other,
                                           "description": entry.get("description", base_spec.description)})
        specs = {role: specs[role] for role in raw}
        groups = {str(k): [str(r) for r in v] for k, v in (data.get("groups") or {}).items()}
        groups.setdefault("all", list(specs))
        for name, roles in groups.items():
            unknown = [r for r in roles if r not in specs]
            if unknown:
                raise ModelError(f"{path}: groups.{name} names unknown roles {unknown}")
        return cls(path, specs, groups, cache)

    @staticmethod
    def _parse(path: Path, base: Path, cache: Path, role: str, entry: Any) -> ModelSpec:
        where = f"{path}: models.{role}"
        if not isinstance(entry, dict):
            raise ModelError(f"{where} must be a mapping")
        for key in ("assemble", "target", "sha256", "size"):
            if key not in entry:
                raise ModelError(f"{where}.{key} is required")
        assemble = entry["assemble"] or {}
        method = assemble.get("method")
        if method not in _METHODS:
            raise ModelError(f"{where}.assemble.method must be one of {_METHODS}, not {method!r}")
        sha = str(entry["sha256"]).lower()
        if not HEX64.match(sha):
            raise ModelError(f"{where}.sha256 is not a sha256 hex digest")
        parts = int(entry.get("parts", 1))
        packages: list[str] = []
        for pkg in entry.get("packages") or []:
            packages.extend(_expand(str(pkg), parts))
        for pkg in packages:
            if "==" not in pkg:
                raise ModelError(f"{where}.packages: pin {pkg!r} as name==version")
        module = assemble.get("module")
        rel = assemble.get("path")
        if method in ("file", "dir") and not (module and rel):
            raise ModelError(f"{where}.assemble needs module and path for method {method}")
        if method == "concat" and not module:
            raise ModelError(f"{where}.assemble needs module (a template with {{i}}) for concat")
        if method == "copy":
            if not rel:
                raise ModelError(f"{where}.assemble needs path for method copy")
            rel = str((base / rel).resolve()) if not Path(rel).is_absolute() else rel
        target = Path(entry["target"])
        target = target if target.is_absolute() else cache / target
        return ModelSpec(
            role=role, description=str(entry.get("description", "")), packages=tuple(packages), method=method,
            module=module, path=rel, parts=parts, target=target, sha256=sha, size=int(entry["size"]),
            licence=str(entry.get("licence", "unknown")), main=entry.get("main"),
            test_only=bool(entry.get("test_only", False)),
        )

    # ---------------------------------------------------------------- roles
    @property
    def roles(self) -> list[str]:
        return list(self.specs)

    def spec(self, role: str) -> ModelSpec:
        try:
            return self.specs[role]
        except KeyError:
            raise ModelError(f"unknown model role {role!r}; known: {', '.join(self.specs)}") from None

    def expand(self, names: Iterable[str] | str | None) -> list[str]:
        """Roles and group names (ci, default, all) -> roles, in manifest order, without duplicates."""
        if names is None or names == "all":
            names = ["all"]
        elif isinstance(names, str):
            names = [n for n in re.split(r"[,\s]+", names) if n]
        wanted: set[str] = set()
        for name in names:
            if name in self.groups:
                wanted.update(self.groups[name])
            else:
                wanted.add(self.spec(name).role)
        return [r for r in self.specs if r in wanted]

    # ---------------------------------------------------------------- packages
    def packages(self, roles: Iterable[str] | str | None = None, *, missing_only: bool = False) -> list[str]:
        out: list[str] = []
        for role in self.expand(roles):
            for pkg in self.spec(role).packages:
                if pkg not in out and not (missing_only and _installed(pkg)):
                    out.append(pkg)
        return out

    def install_packages(self, packages: list[str], *, quiet: bool = True) -> None:
        if not packages:
            return
        log.info("pip install --no-deps %s", " ".join(packages))
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", *packages]
        if quiet:
            cmd.insert(4, "-q")
        done = subprocess.run(cmd, capture_output=quiet, text=True)
        if done.returncode != 0:
            tail = (done.stderr or "")[-800:] if quiet else ""
            raise ModelError(f"pip could not install {' '.join(packages)}: {tail}")
        importlib.invalidate_caches()

    # ---------------------------------------------------------------- verified cache
    def _verified_file(self) -> Path:
        return self.cache_dir / _VERIFIED

    def _read_verified(self) -> dict[str, Any]:
        try:
            return json.loads(self._verified_file().read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _remember(self, spec: ModelSpec, ok: bool) -> None:
        with self._lock:
            data = self._read_verified()
            key = str(spec.target)
            if ok:
                data[key] = {"sha256": spec.sha256, "signature": signature(spec.target)}
            else:
                data.pop(key, None)
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write_text(self._verified_file(), json.dumps(data, indent=1, sort_keys=True))

    def _known_good(self, spec: ModelSpec) -> bool:
        """True when the target was verified before and has not changed since (no re-hash)."""
        entry = self._read_verified().get(str(spec.target))
        if not entry or entry.get("sha256") != spec.sha256 or not spec.target.exists():
            return False
        try:
            return entry.get("signature") == signature(spec.target)
        except OSError:
            return False

    # ---------------------------------------------------------------- verify / install
    def verify(self, role: str, *, progress: bool = False) -> Path:
        """Re-hash the role's model; a wrong one is deleted and ``ChecksumError`` raised."""
        spec = self.spec(role)
        if not spec.target.exists():
            raise ModelNotInstalled(f"model {role!r} is not installed: run `callflows models install {role}`")
        actual = sha256_path(spec.target, progress=progress, desc=f"verify {role}")
        if actual != spec.sha256:
            self._remember(spec, False)
            _remove(spec.target)
            raise ChecksumError(f"model {role!r} ({spec.target})", spec.sha256, actual)
        self._remember(spec, True)
        return spec.target

    def install(self, roles: Iterable[str] | str | None = None, *, progress: bool = True,
                force: bool = False, echo: Any = None) -> list[ModelStatus]:
        """Install, assemble and verify the named roles or groups (default: all).

        Skips what is already verified (unless ``force``); ``echo(msg)`` hears one line per model
        actually installed. Raises ``ChecksumError`` (nothing is left on disk) on a wrong sha256.
        """
        done_targets: set[Path] = set()
        for role in self.expand(roles):
            spec = self.spec(role)
            if spec.target in done_targets:
                continue
            done_targets.add(spec.target)
            if not force and self._known_good(spec):
                continue
            if spec.target.exists() or spec.target.is_symlink():
                if not force and sha256_path(spec.target, progress=progress, desc=f"verify {role}") == spec.sha256:
                    self._remember(spec, True)
                    continue
                _remove(spec.target)
            if echo:
                echo(f"installing model {role}: {spec.description} ({spec.size / 1e6:.0f} MB)")
            self.install_packages(self.packages([role], missing_only=True))
            self._assemble(spec, progress=progress)
            self._remember(spec, True)
        return self.status(roles)

    def _assemble(self, spec: ModelSpec, *, progress: bool) -> None:
        spec.target.parent.mkdir(parents=True, exist_ok=True)
        if spec.method in ("file", "dir"):
            source = _module_dir(spec.module) / str(spec.path)  # type: ignore[arg-type]
            self._link_verified(spec, source, progress)
        elif spec.method == "copy":
            source = Path(str(spec.path))
            if not source.exists():
                raise ModelError(f"model {spec.role!r}: source {source} does not exist")
            if source.is_dir():
                self._link_verified(spec, source, progress, copy=True)
            else:
                self._write_verified(spec, [source], progress)
        else:  # concat
            sources = []
            for name in spec.part_modules():
                module = importlib.import_module(name)
                sources.append(Path(module.get_part_path()))
            self._write_verified(spec, sources, progress)

    def _write_verified(self, spec: ModelSpec, sources: list[Path], progress: bool) -> None:
        """Concatenate ``sources`` into a temp file beside the target while hashing; rename if right."""
        import hashlib

        total = sum(p.stat().st_size for p in sources)
        fd, tmp_name = tempfile.mkstemp(dir=spec.target.parent, prefix=f".{spec.target.name}.", suffix=".part")
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        bar = progress_bar(total, f"assemble {spec.role}", progress)
        try:
            with os.fdopen(fd, "wb") as out:
                for src in sources:
                    with open(src, "rb") as fh:
                        while block := fh.read(CHUNK):
                            digest.update(block)
                            out.write(block)
                            bar.update(len(block))
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if actual != spec.sha256:
                raise ChecksumError(f"model {spec.role!r} (assembled from {len(sources)} file(s))", spec.sha256, actual)
            os.chmod(tmp, 0o644)
            os.replace(tmp, spec.target)
        finally:
            bar.close()
            tmp.unlink(missing_ok=True)

    def _link_verified(self, spec: ModelSpec, source: Path, progress: bool, *, copy: bool = False) -> None:
        """Verify a packaged file or folder in place, then link (or copy) it to the target."""
        if not source.exists():
            raise ModelError(f"model {spec.role!r}: {source} is missing from its package")
        actual = sha256_path(source, progress=progress, desc=f"verify {spec.role}")
        if actual != spec.sha256:
            raise ChecksumError(f"model {spec.role!r} ({source})", spec.sha256, actual)
        tmp = spec.target.parent / f".{spec.target.name}.tmp{os.getpid()}"
        _remove(tmp)
        if copy:
            shutil.copytree(source, tmp) if source.is_dir() else shutil.copy2(source, tmp)
        else:
            try:
                tmp.symlink_to(source.resolve(), target_is_directory=source.is_dir())
            except OSError:
                shutil.copytree(source, tmp) if source.is_dir() else shutil.copy2(source, tmp)
        if spec.target.is_dir() and not spec.target.is_symlink():
            shutil.rmtree(spec.target)
        os.replace(tmp, spec.target)

    # ---------------------------------------------------------------- status / resolve
    def status(self, roles: Iterable[str] | str | None = None, *, verify: bool = False) -> list[ModelStatus]:
        """One line per role: present?, size on disk, verified? (``verify`` re-hashes)."""
        out = []
        for role in self.expand(roles):
            spec = self.spec(role)
            present = spec.target.exists()
            size = size_of(spec.target) if present else None
            if present and verify:
                ok = sha256_path(spec.target) == spec.sha256
                self._remember(spec, ok)
            else:
                ok = present and self._known_good(spec)
            out.append(ModelStatus(role, present, size, ok, spec.target, spec.size, spec.sha256,
                                   os.environ.get(env_override_name(role)) or None, spec.same_as))
        return out

    def resolve(self, role: str, *, install: bool = False) -> Path:
        """The path of ``role``'s model: the env override ``CALLFLOWS_MODEL_<ROLE>`` (a path, or
        ``<url>#sha256=<hex>``, downloaded once and verified), else the manifest's installed model
        (``install=True`` installs it when missing; otherwise ``ModelNotInstalled``)."""
        override = os.environ.get(env_override_name(role))
        if override:
            return resolve_override(override, self.cache_dir / "user", is_dir=(role in self.specs and self.specs[role].is_dir))
        spec = self.spec(role)
        if not spec.target.exists():
            if not install:
                raise ModelNotInstalled(
                    f"model {role!r} is not installed: run `callflows models install {role}` "
                    f"(or set {env_override_name(role)} to your own model's path)")
            self.install([role], progress=False)
        return spec.target

    def main_file(self, role: str) -> Path:
        """For a folder model with a ``main`` file (the TTS voice), that file; else ``resolve(role)``."""
        path = self.resolve(role)
        spec = self.specs.get(role)
        if path.is_dir() and spec is not None and spec.main:
            return path / spec.main
        return path


# ------------------------------------------------------------------------- helpers
def _installed(requirement: str) -> bool:
    name, _, version = requirement.partition("==")
    try:
        return importlib.metadata.version(name) == version
    except importlib.metadata.PackageNotFoundError:
        return False


def _module_dir(module_name: str) -> Path:
    """The folder of an installed package, found without importing it (a plugin package may
    import things we deliberately did not install)."""
    importlib.invalidate_caches()
    spec = importlib.util.find_spec(module_name)
    if spec is None:
        raise ModelError(f"package module {module_name!r} is not installed")
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    assert spec.origin is not None
    return Path(spec.origin).parent


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


_DEFAULT: Manifest | None = None
_DEFAULT_LOCK = threading.Lock()


def default_manifest() -> Manifest:
    """The process's manifest (loaded once)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Manifest.load()
        return _DEFAULT
