"""The deployment files and `callflows doctor`.

* docker-compose.yml parses; every `callflows ...` command in it is a real command whose options
  parse (click), the llm service's options are llama_cpp.server's, health URLs are real routes.
* Environment variables: every one in docker-compose.yml / .env.example is read by the code (or
  by compose itself), and every CALLFLOWS_* / TWILIO_* variable the code reads is in .env.example.
* Dockerfile: the build runs scripts/install.sh (the README's script) with the server's stages; the
  final stage runs as a non-root USER, bakes no secret, and its HEALTHCHECK hits the health route.
* doctor: passes on a migrated database (SQLite and PostgreSQL) with a token and an https public
  URL; fails on an unmigrated one, on a wrong checksum, on an LLM endpoint that never answers.
"""

from __future__ import annotations

import ast
import functools
import http.server
import importlib.util
import json
import os
import re
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from callflows.cli.main import cli
from callflows.models import Manifest, sha256_path

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
REPO_MANIFEST = ROOT / "models" / "manifest.yaml"

TOKEN = "0123456789abcdef" * 2
SID = "AC" + "0" * 32
PUBLIC = "https://callflows.example.com"
ALIAS = "qwen2.5-coder-1.5b-instruct"

# Variables of docker compose itself (not interpolated in the file, read by the compose CLI).
COMPOSE_CLI_VARS = {"COMPOSE_PROFILES"}
# Variables of the postgres image, set under the postgres service's `environment:`.
POSTGRES_IMAGE_VARS = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


# =========================================================================== compose
def test_compose_services_health_restart_and_order() -> None:
    services = _compose()["services"]
    assert {"phone", "admin", "postgres", "llm", "migrate"} <= set(services)
    for name in ("phone", "admin", "postgres", "llm"):
        svc = services[name]
        assert svc.get("restart") in ("unless-stopped", "always", "on-failure"), name
        test = svc["healthcheck"]["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert any(v.startswith("pgdata:") for v in services["postgres"]["volumes"])
    assert "pgdata" in _compose()["volumes"]
    # migrations once, after postgres is healthy; the servers wait for them
    assert services["migrate"]["command"] == ["callflows", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("phone", "admin"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert services[name]["env_file"] == [".env"], name
    assert services["phone"]["depends_on"]["llm"]["condition"] == "service_healthy"
    assert services["phone"]["command"][:2] == ["callflows", "serve"]
    assert services["admin"]["command"][:3] == ["callflows", "admin", "run"]


def _callflows_commands() -> list[tuple[str, list[str]]]:
    out = []
    for name, svc in _compose()["services"].items():
        cmd = svc.get("command")
        if cmd is None:
            continue
        assert isinstance(cmd, list), f"{name}: give command as a list"
        if cmd[0] == "callflows":
            out.append((name, [str(a) for a in cmd[1:]]))
    return out


def _parse_without_running(args: list[str]) -> click.Context:
    """Resolve the sub-commands and parse (and type-convert) the options, without invoking."""
    cmd: click.Command = cli
    parent = None
    name = "callflows"
    tokens = list(args)
    while isinstance(cmd, click.Group):
        assert tokens, f"{' '.join(args)}: a group, not a command"
        sub = tokens.pop(0)
        ctx = click.Context(cmd, info_name=name, parent=parent)
        nxt = cmd.get_command(ctx, sub)
        assert nxt is not None, f"`callflows {' '.join(args)}`: no command {sub!r}"
        parent, name, cmd = ctx, sub, nxt
    return cmd.make_context(name, tokens, parent=parent)


@pytest.mark.parametrize("service,args", _callflows_commands(), ids=[s for s, _ in _callflows_commands()])
def test_compose_commands_are_real_cli_commands(service: str, args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, f"{service}: callflows {' '.join(args)} --help\n{result.output}"
    assert "Usage:" in result.output
    _parse_without_running(args)  # unknown options or bad values raise here


def test_compose_covers_every_callflows_service() -> None:
    assert {s for s, _ in _callflows_commands()} == {"migrate", "phone", "admin"}


def test_llm_service_serves_the_manifest_escalation_gguf() -> None:
    services = _compose()["services"]
    cmd = services["llm"]["command"]
    assert cmd[:3] == ["python", "-m", "llama_cpp.server"]
    opts = dict(zip(cmd[3::2], cmd[4::2]))
    target = Manifest.load(REPO_MANIFEST).spec("llm_escalation").target
    assert opts["--model"] == "/app/" + target.relative_to(ROOT).as_posix()
    assert opts["--model_alias"] == ALIAS
    assert services["phone"]["environment"]["CALLFLOWS_LLM_ESCALATION_MODEL"].endswith(f":-{ALIAS}}}")
    assert services["phone"]["environment"]["CALLFLOWS_LLM_ESCALATION_URL"].endswith(":-http://llm:8000}")
    assert opts["--port"] == "8000" and "8000/v1/models" in " ".join(services["llm"]["healthcheck"]["test"])
    assert f"CALLFLOWS_LLM_ESCALATION_MODEL={ALIAS}" in ENV_EXAMPLE.read_text()


def test_llm_service_options_are_llama_cpp_server_settings() -> None:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llama-cpp-python is not installed here (scripts/install.sh llama): its server's options "
                    "cannot be compared")
    settings = Path(list(spec.submodule_search_locations)[0]) / "server" / "settings.py"
    if not settings.exists():
        pytest.skip(f"{settings} not found in this llama-cpp-python")
    fields = set(re.findall(r"^\s{4}(\w+)\s*:", settings.read_text(), re.M))
    cmd = _compose()["services"]["llm"]["command"]
    for opt in cmd[3::2]:
        assert opt.startswith("--") and opt[2:] in fields, f"llama_cpp.server has no option {opt}"


def test_health_urls_are_real_routes(sqlite_store: Any) -> None:
    from admin import create_app as admin_app
    from callflows.config import Settings
    from callflows.server import create_app

    services = _compose()["services"]
    phone = create_app(Settings(insecure_dev=True), sqlite_store, services=SimpleNamespace())
    assert "/healthz" in " ".join(services["phone"]["healthcheck"]["test"])
    assert phone.test_client().get("/healthz").get_json()["ok"] is True
    assert "/login" in " ".join(services["admin"]["healthcheck"]["test"])
    admin = admin_app(sqlite_store, {"SECRET_KEY": "test", "ADMIN_UPGRADE_DB": False})
    assert admin.test_client().get("/login").status_code == 200


# =========================================================================== environment variables
_VAR = re.compile(r"^(?:CALLFLOWS|TWILIO)_[A-Z0-9_]*[A-Z0-9]$")


def _py_files() -> list[Path]:
    return [p for d in ("callflows", "admin") for p in sorted((ROOT / d).rglob("*.py"))]


@functools.lru_cache(maxsize=1)
def _code_literals() -> dict[str, str]:
    """Every CALLFLOWS_*/TWILIO_* name written as a whole string in the code -> first file.
    Flask config keys (``app.config["CALLFLOWS_..."]``) are not environment variables."""
    found: dict[str, str] = {}
    for path in _py_files():
        tree = ast.parse(path.read_text(), str(path))
        config_keys = {id(n.slice) for n in ast.walk(tree) if isinstance(n, ast.Subscript)
                       and isinstance(n.value, ast.Attribute) and n.value.attr == "config"}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _VAR.match(node.value):
                if id(node) not in config_keys:
                    found.setdefault(node.value, str(path.relative_to(ROOT)))
    # the install script (build time: the image's build argument)
    for name in re.findall(r"\$\{?((?:CALLFLOWS|TWILIO)_[A-Z0-9_]+)", (ROOT / "scripts" / "install.sh").read_text()):
        found.setdefault(name, "scripts/install.sh")
    return found


def _families() -> dict[str, re.Pattern[str]]:
    """Names built at run time: CALLFLOWS_LLM_<ROLE>_<SUFFIX> and CALLFLOWS_MODEL_<ROLE>."""
    registry = (ROOT / "callflows" / "llm" / "registry.py").read_text()
    assert 'f"CALLFLOWS_LLM_{' in registry
    suffixes = sorted(set(re.findall(r'_(?:env|int)\(\s*\w+,\s*"([A-Z_]+)"', registry)))
    assert {"URL", "MODEL", "API_KEY", "TIMEOUT_S", "THREADS", "CTX", "POOL"} <= set(suffixes), suffixes
    roles = Manifest.load(REPO_MANIFEST).roles
    assert '"CALLFLOWS_MODEL_" + ' in (ROOT / "callflows" / "models" / "manifest.py").read_text()
    llm_roles = [r[4:].upper() for r in roles if r.startswith("llm_")]
    fam = {f"CALLFLOWS_LLM_<ROLE>_{s}": re.compile(rf"^CALLFLOWS_LLM_({'|'.join(llm_roles)})_{s}$") for s in suffixes}
    fam["CALLFLOWS_MODEL_<ROLE>"] = re.compile(rf"^CALLFLOWS_MODEL_({'|'.join(r.upper() for r in roles)})$")
    return fam


def _env_example_vars() -> set[str]:
    """Every VAR= line of .env.example, set or commented out (#VAR=default)."""
    return set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))


def _compose_vars() -> tuple[set[str], set[str]]:
    """(${VAR} interpolated in docker-compose.yml, keys of the services' `environment:`)."""
    text = COMPOSE.read_text()
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text))
    keys: set[str] = set()
    for svc in _compose()["services"].values():
        env = svc.get("environment") or {}
        keys |= set(env if isinstance(env, dict) else (e.split("=", 1)[0] for e in env))
    return interpolated, keys


def _read_by_code(name: str, literals: dict[str, str], families: dict[str, re.Pattern[str]]) -> bool:
    return name in literals or any(p.match(name) for p in families.values())


def test_code_literal_scan_finds_the_known_settings() -> None:
    literals = _code_literals()
    for name in ("TWILIO_AUTH_TOKEN", "CALLFLOWS_PUBLIC_URL", "CALLFLOWS_DATABASE_URL", "CALLFLOWS_LOG_LEVEL",
                 "CALLFLOWS_ADMIN_SECRET_KEY", "CALLFLOWS_LLM_THREADS", "CALLFLOWS_MODEL_ROLES"):
        assert name in literals, name
    assert "CALLFLOWS_SETTINGS" not in literals  # a Flask config key


def test_every_variable_the_code_reads_is_in_env_example() -> None:
    documented = _env_example_vars()
    missing = {n: f for n, f in _code_literals().items() if n not in documented}  # (a copy: cached)
    assert not missing, f"read by the code but not in .env.example: {missing}"
    for family, pattern in _families().items():
        assert any(pattern.match(v) for v in documented), f".env.example has no example of {family}"


def test_every_variable_in_env_example_and_compose_is_read() -> None:
    literals, families = _code_literals(), _families()
    interpolated, env_keys = _compose_vars()
    documented = _env_example_vars()
    for name in sorted(documented | interpolated | env_keys):
        if name.startswith(("CALLFLOWS_", "TWILIO_")):
            assert _read_by_code(name, literals, families), f"{name} is not read anywhere in the code"
        else:  # a compose-level setting: used by docker-compose.yml (or the compose CLI)
            assert name in interpolated or name in COMPOSE_CLI_VARS or name in POSTGRES_IMAGE_VARS, \
                f"{name} is neither read by the code nor used in docker-compose.yml"
    undocumented = (interpolated | env_keys) - documented
    assert not undocumented, f"used in docker-compose.yml but not in .env.example: {undocumented}"


def test_env_example_has_no_real_secret() -> None:
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), re.M))
    assert values["TWILIO_AUTH_TOKEN"] == "" and values["CALLFLOWS_ADMIN_SECRET_KEY"] == ""
    assert values["POSTGRES_PASSWORD"] == "change-me"


# =========================================================================== Dockerfile
def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in _instructions(DOCKERFILE.read_text()):
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def test_dockerfile_builds_with_the_readme_install_script() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/install.sh" in readme
    for script in ("run.sh", "test.sh"):  # the README's commands go through the same script
        assert "bash scripts/install.sh" in (ROOT / "scripts" / script).read_text()
    stages = _stages()
    assert len(stages) >= 2, "multi-stage build"
    build = stages[0]
    runs = [args for word, args in build if word == "RUN" and "scripts/install.sh" in args]
    named: set[str] = set()
    for args in runs:
        m = re.search(r"bash scripts/install\.sh((?:\s+[a-z]+)*)", args)
        assert m, args
        named |= set(m.group(1).split())
    assert {"apt", "core", "speech", "llama", "models"} <= named, named
    assert any(w == "COPY" and "scripts/install.sh" in a for w, a in build)


def test_dockerfile_final_stage_is_unprivileged_and_has_no_secret() -> None:
    final = _stages()[-1]
    users = [args for word, args in final if word == "USER"]
    assert users, "the final stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0", ""), users[-1]
    assert any(w == "COPY" and "--from=build" in a for w, a in final)
    for word, args in _instructions(DOCKERFILE.read_text()):
        if word in ("ENV", "ARG"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]
            for name in names:
                assert not re.search(r"TOKEN|SECRET|PASSW|API_KEY|AUTH", name), f"{word} {name} in the image"
    health = [args for word, args in final if word == "HEALTHCHECK"]
    assert health and "/healthz" in health[-1]
    assert re.search(r"^CMD \[\"callflows\", \"serve\"\]", DOCKERFILE.read_text(), re.M)


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    lines = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".venv", "models/.cache", "var", ".git"} <= lines


# =========================================================================== doctor
@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No CALLFLOWS_*/TWILIO_* from the outside; the working directory is a temp folder."""
    for name in list(os.environ):
        if name.startswith(("CALLFLOWS_", "TWILIO_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def _doctor(*args: str) -> tuple[int, dict[str, dict[str, str]], str]:
    result = CliRunner().invoke(cli, ["doctor", "--json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    data = json.loads(result.stdout)
    assert data["ok"] == (result.exit_code == 0)
    return result.exit_code, {c["name"]: c for c in data["checks"]}, result.stdout


class _Models(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path != "/v1/models":
            self.send_error(404)
            return
        body = json.dumps({"object": "list", "data": [{"id": ALIAS, "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def llm_server() -> Iterator[str]:
    """A tiny OpenAI-compatible stand-in that answers GET /v1/models."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def silent_server() -> Iterator[str]:
    """A socket that accepts connections (the kernel does) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def _production_env(mp: pytest.MonkeyPatch, db_url: str, llm_url: str) -> None:
    mp.setenv("CALLFLOWS_DATABASE_URL", db_url)
    mp.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    mp.setenv("TWILIO_ACCOUNT_SID", SID)
    mp.setenv("CALLFLOWS_PUBLIC_URL", PUBLIC)
    mp.setenv("CALLFLOWS_LLM_ESCALATION_URL", llm_url)
    mp.setenv("CALLFLOWS_LLM_ESCALATION_MODEL", ALIAS)


def _real_models_missing() -> list[str]:
    rows = Manifest.load(REPO_MANIFEST).status(["tts", "stt", "embedder"])
    return [r.role for r in rows if not r.present]


def test_doctor_passes_on_a_migrated_sqlite_database(clean_env: pytest.MonkeyPatch, sqlite_store: Any,
                                                     llm_server: str) -> None:
    _production_env(clean_env, sqlite_store.url, llm_server)
    missing = _real_models_missing()
    code, checks, out = _doctor(*(["--skip", "models"] if missing else []))
    assert code == 0, out
    assert {c["status"] for c in checks.values()} == {"PASS"}, out
    expected = {"database", "llm escalation", "twilio token", "twilio account sid", "public url"}
    if not missing:
        expected |= {"model tts", "model stt", "model embedder"}
    assert set(checks) == expected
    assert "sqlite reachable, at head" in checks["database"]["reason"]
    assert checks["public url"]["reason"] == (f"voice webhook {PUBLIC}/twilio/voice, stream "
                                              "wss://callflows.example.com/twilio/media")
    table = CliRunner().invoke(cli, ["doctor", *(["--skip", "models"] if missing else [])])
    assert table.exit_code == 0 and table.output.splitlines()[0].split() == ["CHECK", "STATUS", "REASON"]


def test_doctor_model_check_on_the_installed_models(clean_env: pytest.MonkeyPatch) -> None:
    missing = _real_models_missing()
    if missing:
        pytest.skip(f"models {missing} are not installed here (scripts/install.sh models); the model check "
                    "on real weights was not exercised (the fake-manifest tests below still run)")
    # an LLM URL: the 1.1 GB GGUF is not added to the models to verify (the llm check is skipped)
    clean_env.setenv("CALLFLOWS_LLM_ESCALATION_URL", "http://127.0.0.1:9")
    for extra in ([], ["--full"]):
        code, checks, out = _doctor("--skip", "database", "--skip", "llm", "--skip", "twilio", "--skip",
                                    "public-url", *extra)
        assert code == 0, out
        assert set(checks) == {"model tts", "model stt", "model embedder"}
        assert all(c["status"] == "PASS" for c in checks.values()), out


@pytest.mark.postgres
def test_doctor_on_postgresql(clean_env: pytest.MonkeyPatch, pg_store: Any, llm_server: str) -> None:
    _production_env(clean_env, pg_store.url, llm_server)
    code, checks, out = _doctor("--skip", "models")
    assert code == 0, out
    assert checks["database"]["status"] == "PASS" and "postgresql reachable, at head" in checks["database"]["reason"]
    pg_store.downgrade("base")
    code, checks, out = _doctor("--skip", "models")
    assert code == 1 and checks["database"]["status"] == "FAIL", out
    assert "not migrated" in checks["database"]["reason"]


def test_doctor_fails_on_an_unreachable_postgresql(clean_env: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clean_env.setenv("CALLFLOWS_DATABASE_URL", f"postgresql://callflows:s3cret@127.0.0.1:{port}/callflows")
    started = time.monotonic()
    code, checks, out = _doctor("--skip", "models", "--skip", "llm", "--insecure-dev")
    assert time.monotonic() - started < 10
    assert code == 1 and checks["database"]["status"] == "FAIL"
    assert "not reachable" in checks["database"]["reason"] and "s3cret" not in out


def test_doctor_fails_on_an_unmigrated_database(clean_env: pytest.MonkeyPatch, tmp_path: Path, llm_server: str) -> None:
    from sqlalchemy import create_engine

    from callflows.store import Store

    empty = tmp_path / "empty.db"
    create_engine(f"sqlite:///{empty}").connect().close()  # a database file with no tables
    _production_env(clean_env, f"sqlite:///{empty}", llm_server)
    code, checks, out = _doctor("--skip", "models")
    assert code == 1, out
    assert checks["database"]["status"] == "FAIL" and "not migrated" in checks["database"]["reason"]
    assert all(c["status"] == "PASS" for n, c in checks.items() if n != "database"), out

    old = Store(f"sqlite:///{tmp_path / 'old.db'}")
    old.upgrade("0001")
    old_rev = old.current_revision()
    old.dispose()
    clean_env.setenv("CALLFLOWS_DATABASE_URL", f"sqlite:///{tmp_path / 'old.db'}")
    code, checks, out = _doctor("--skip", "models")
    assert code == 1 and f"at revision {old_rev}, head is" in checks["database"]["reason"], out

    clean_env.setenv("CALLFLOWS_DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere.db'}")
    code, checks, out = _doctor("--skip", "models")
    assert code == 1 and "no database file" in checks["database"]["reason"], out
    assert not (tmp_path / "nowhere.db").exists()  # doctor never creates a database


def _fake_manifest(tmp_path: Path, weights: Path) -> Path:
    path = tmp_path / "manifest.yaml"
    path.write_text(textwrap.dedent(f"""
        version: 1
        cache_dir: cache
        models:
          fake:
            description: a tiny fake model
            assemble: {{method: copy, path: {weights.name}}}
            target: llm/fake.gguf
            size: {weights.stat().st_size}
            sha256: "{sha256_path(weights)}"
            licence: CC0
    """))
    return path


def test_doctor_fails_on_a_wrong_checksum(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    manifest = _fake_manifest(tmp_path, weights)
    clean_env.setenv("CALLFLOWS_MODELS_MANIFEST", str(manifest))
    only_models = ("--skip", "database", "--skip", "llm", "--skip", "twilio", "--skip", "public-url",
                   "--models", "fake")

    code, checks, out = _doctor(*only_models)
    assert code == 1 and checks["model fake"]["status"] == "FAIL" and "missing" in checks["model fake"]["reason"]

    [row] = Manifest.load(manifest).install("fake", progress=False)
    assert row.verified
    code, checks, out = _doctor(*only_models)
    assert code == 0 and "stamp" in checks["model fake"]["reason"], out
    code, checks, out = _doctor(*only_models, "--full")
    assert code == 0 and "re-hashed" in checks["model fake"]["reason"], out

    # same size and mtime, other bytes: the quick mode trusts the stamp, --full finds it
    target = row.path
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    code, checks, out = _doctor(*only_models)
    assert code == 0, out
    code, checks, out = _doctor(*only_models, "--full")
    assert code == 1 and "sha256 mismatch" in checks["model fake"]["reason"], out
    assert target.exists()  # doctor reports, never deletes

    # changed since the stamp (mtime): the quick mode re-hashes it and fails too
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    code, checks, out = _doctor(*only_models)
    assert code == 1 and checks["model fake"]["status"] == "FAIL", out
    assert "sha256 mismatch" in checks["model fake"]["reason"]


_ONLY_LLM = ("--skip", "database", "--skip", "models", "--skip", "twilio", "--skip", "public-url")


def test_doctor_llm_endpoint_that_never_answers_fails_within_the_timeout(
        clean_env: pytest.MonkeyPatch, silent_server: str) -> None:
    clean_env.setenv("CALLFLOWS_LLM_ESCALATION_URL", silent_server)
    started = time.monotonic()
    code, checks, out = _doctor(*_ONLY_LLM, "--timeout", "0.5")
    elapsed = time.monotonic() - started
    assert code == 1 and checks["llm escalation"]["status"] == "FAIL", out
    assert "no answer within 0.5 s" in checks["llm escalation"]["reason"]
    assert elapsed < 3, elapsed


def test_doctor_llm_endpoint_that_answers_passes(clean_env: pytest.MonkeyPatch, llm_server: str) -> None:
    clean_env.setenv("CALLFLOWS_LLM_ESCALATION_URL", llm_server + "/v1")  # the /v1 form works too
    clean_env.setenv("CALLFLOWS_LLM_ESCALATION_MODEL", ALIAS)
    clean_env.setenv("CALLFLOWS_LLM_TEACHER_URL", llm_server)  # every role with a URL is checked
    code, checks, out = _doctor(*_ONLY_LLM)
    assert code == 0, out
    assert checks["llm escalation"]["status"] == "PASS" and ALIAS in checks["llm escalation"]["reason"]
    assert checks["llm teacher"]["status"] == "PASS"
    clean_env.setenv("CALLFLOWS_LLM_ESCALATION_MODEL", "some-other-model")
    code, checks, out = _doctor(*_ONLY_LLM)
    assert code == 0 and checks["llm escalation"]["status"] == "WARN", out


def test_doctor_llm_without_url_wants_the_local_gguf(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = tmp_path / "mine.gguf"
    clean_env.setenv("CALLFLOWS_MODEL_LLM_ESCALATION", str(gguf))
    code, checks, out = _doctor(*_ONLY_LLM)
    assert code == 1 and "missing" in checks["llm escalation"]["reason"], out
    gguf.write_bytes(b"GGUF")
    code, checks, out = _doctor(*_ONLY_LLM)
    if importlib.util.find_spec("llama_cpp") is not None:
        assert code == 0 and "in-process llama.cpp" in checks["llm escalation"]["reason"], out
    else:
        assert code == 1 and "llama-cpp-python is not installed" in checks["llm escalation"]["reason"], out


@pytest.mark.parametrize("url,status,words", [
    ("https://callflows.example.com/", "PASS", "trailing '/' dropped"),
    ("http://callflows.example.com", "FAIL", "not https"),
    ("https://callflows.example.com/phone", "FAIL", "has a path"),
    ("https://callflows.example.com?x=1", "FAIL", "has a path/query"),
    ("https://localhost:8443", "WARN", "cannot reach"),
    ("", "FAIL", "not set"),
])
def test_doctor_public_url(clean_env: pytest.MonkeyPatch, url: str, status: str, words: str) -> None:
    clean_env.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    clean_env.setenv("TWILIO_ACCOUNT_SID", SID)
    if url:
        clean_env.setenv("CALLFLOWS_PUBLIC_URL", url)
    code, checks, out = _doctor("--skip", "database", "--skip", "models", "--skip", "llm")
    assert checks["public url"]["status"] == status and words in checks["public url"]["reason"], out
    assert code == (1 if status == "FAIL" else 0)


def test_doctor_twilio_token(clean_env: pytest.MonkeyPatch) -> None:
    only = ("--skip", "database", "--skip", "models", "--skip", "llm", "--skip", "public-url")
    code, checks, out = _doctor(*only)
    assert code == 1 and checks["twilio token"]["status"] == "FAIL", out
    assert checks["twilio account sid"]["status"] == "WARN"
    code, checks, out = _doctor(*only, "--insecure-dev")  # as `serve --insecure-dev`
    assert code == 0 and checks["twilio token"]["status"] == "WARN" and "NOT checked" in checks["twilio token"]["reason"]
    clean_env.setenv("CALLFLOWS_INSECURE_DEV", "1")
    code, checks, out = _doctor(*only)
    assert code == 0 and checks["twilio token"]["status"] == "WARN"
    clean_env.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    clean_env.setenv("TWILIO_ACCOUNT_SID", "not-a-sid")
    code, checks, out = _doctor(*only)
    assert checks["twilio token"]["status"] == "WARN" and "remove the dev flag" in checks["twilio token"]["reason"]
    assert code == 1 and checks["twilio account sid"]["status"] == "FAIL"
    assert TOKEN not in out  # the token is never printed
