"""`callflows doctor`: is this deployment ready to answer calls?

One row per check, PASS / WARN / FAIL with a one-line reason; the exit code is 1 when any
check FAILs (0 otherwise, warnings included), so it fits a container's start-up or a CI step.

* ``database``      reachable, and migrated to the Alembic head this code ships.
* ``model <role>``  present, sha256 as in models/manifest.yaml. Quick mode trusts the stamp
                    ``callflows models install`` leaves (models/.cache/.verified.json: sha256 +
                    size/mtime signature) and re-hashes only a model without a valid stamp;
                    ``--full`` re-hashes every one. Nothing is written or deleted.
* ``llm <role>``    with ``CALLFLOWS_LLM_<ROLE>_URL``: ``GET <url>/v1/models`` answers within
                    ``--timeout``; without it: the local GGUF (manifest role ``llm_<role>`` or
                    ``CALLFLOWS_MODEL_LLM_<ROLE>``) is present and llama-cpp-python importable.
* ``twilio token``  ``TWILIO_AUTH_TOKEN`` set (WARN in insecure dev mode); ``twilio account sid``.
* ``public url``    ``CALLFLOWS_PUBLIC_URL`` is a bare ``https://host`` origin, and the
                    ``wss://`` stream URL the TwiML would carry is built from it.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import re
import socket
import ssl
import time
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
CHECKS = ("database", "models", "llm", "twilio", "public-url")
DEFAULT_MODEL_ROLES = "tts stt embedder"  # what the phone server loads (speech + NLU embedder)
DEFAULT_LLM_ROLES = ("escalation",)


@dataclass
class Check:
    name: str
    status: str
    reason: str


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _short(hexdigest: str) -> str:
    return hexdigest[:12] + "..."


# --------------------------------------------------------------------------- database
def check_database(timeout: float = 3.0) -> list[Check]:
    from sqlalchemy.engine import make_url

    from callflows.plugins import VerticalPluginError
    from callflows.store.db import ENV_VAR, Store, normalize_url

    url = os.environ.get(ENV_VAR) or ""
    if not url:  # the default, without creating it (Store.from_env would make var/)
        path = Path.cwd() / "var" / "callflows.db"
        url = f"sqlite:///{path}"
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001
        return [Check("database", FAIL, f"{ENV_VAR} is not a database URL: {_first_line(exc)}")]
    shown = parsed.render_as_string(hide_password=True)
    dialect = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if dialect == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:") and not Path(db).expanduser().exists():
            return [Check("database", FAIL, f"no database file at {db}: run `callflows db upgrade`")]
    elif dialect == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": max(2, int(round(timeout)))}
    try:
        store = Store(url, **kwargs)
    except Exception as exc:  # noqa: BLE001 - e.g. a driver that is not installed
        return [Check("database", FAIL, f"cannot open {shown}: {_first_line(exc)}")]
    try:
        try:  # the core's head and each installed vertical's
            heads = set(store.heads())
        except VerticalPluginError as exc:
            return [Check("database", FAIL, str(exc))]
        try:
            current = set(store.current_revisions())
        except Exception as exc:  # noqa: BLE001 - unreachable, wrong password, ...
            return [Check("database", FAIL, f"not reachable ({shown}): {_first_line(exc)}")]
        head = ", ".join(sorted(heads))
        if not current:
            return [Check("database", FAIL, f"{dialect} reachable but not migrated (head is {head}): "
                                             "run `callflows db upgrade`")]
        if current != heads:
            return [Check("database", FAIL, f"{dialect} at revision {', '.join(sorted(current))}, head is {head}: "
                                             "run `callflows db upgrade` (or this code is older than the database)")]
        return [Check("database", PASS, f"{dialect} reachable, at head {head}")]
    finally:
        store.dispose()


# --------------------------------------------------------------------------- models
def check_models(roles: str = DEFAULT_MODEL_ROLES, *, full: bool = False) -> list[Check]:
    from callflows.models import ModelError, env_override_name, sha256_path
    from callflows.models.manifest import Manifest
    from callflows.models.overrides import parse_override

    try:
        manifest = Manifest.load()
        wanted = manifest.expand(roles)
    except ModelError as exc:
        return [Check("models", FAIL, str(exc))]
    out: list[Check] = []
    seen: dict[Path, str] = {}
    for role in wanted:
        spec = manifest.spec(role)
        name = f"model {role}"
        override = os.environ.get(env_override_name(role))
        if override:
            out.append(_check_override(name, env_override_name(role), override, manifest, full, parse_override))
            continue
        if spec.target in seen:  # an alias (same_as) of a model already checked
            first = next(c for c in out if c.name == f"model {seen[spec.target]}")
            out.append(Check(name, first.status, f"same file as {seen[spec.target]}"))
            continue
        seen[spec.target] = role
        if not spec.target.exists():
            out.append(Check(name, FAIL, f"missing {spec.target}: run `callflows models install {role}`"))
            continue
        stamped = False if full else manifest.status([role])[0].verified
        if stamped:
            out.append(Check(name, PASS, "verified at install, unchanged since (stamp; --full re-hashes)"))
            continue
        actual = sha256_path(spec.target)
        if actual == spec.sha256:
            out.append(Check(name, PASS, f"sha256 ok (re-hashed {spec.target.name})"))
        else:
            out.append(Check(name, FAIL, f"sha256 mismatch: expected {_short(spec.sha256)}, got {_short(actual)}: "
                                         f"run `callflows models install --force {role}`"))
    return out


def _check_override(name: str, var: str, value: str, manifest: Any, full: bool, parse_override: Any) -> Check:
    from callflows.models import ModelError, sha256_path

    try:
        location, sha = parse_override(value)
    except ModelError as exc:
        return Check(name, FAIL, f"{var}: {exc}")
    scheme = urllib.parse.urlparse(location).scheme
    if scheme in ("http", "https", "file"):
        if sha is None:
            return Check(name, FAIL, f"{var} is a URL without #sha256=<hex>")
        leaf = Path(urllib.parse.unquote(urllib.parse.urlparse(location).path)).name or "model.bin"
        cached = manifest.cache_dir / "user" / sha[:16] / leaf
        if not cached.exists():
            return Check(name, WARN, f"{var}: downloaded and verified on first use (not cached yet)")
        if full and sha256_path(cached) != sha:
            return Check(name, FAIL, f"{var}: cached download {cached} does not match its sha256")
        return Check(name, PASS, f"{var}: downloaded to {cached}")
    path = Path(location).expanduser()
    if not path.exists():
        return Check(name, FAIL, f"{var}: {path} does not exist")
    if sha is None:
        return Check(name, PASS, f"{var}: {path} present (no #sha256= given, not verified)")
    actual = sha256_path(path)
    if actual != sha:
        return Check(name, FAIL, f"{var}: sha256 mismatch for {path}: expected {_short(sha)}, got {_short(actual)}")
    return Check(name, PASS, f"{var}: {path} sha256 ok")


# --------------------------------------------------------------------------- LLM
_URL_VAR = re.compile(r"^CALLFLOWS_LLM_([A-Z0-9_]+)_URL$")


def _llm_var(role: str, suffix: str) -> str:
    """``CALLFLOWS_LLM_<ROLE>_<SUFFIX>``, named as callflows.llm.registry names it."""
    return f"CALLFLOWS_LLM_{re.sub(r'[^A-Za-z0-9]', '_', role).upper()}_{suffix}"


def _llm_env(role: str, suffix: str) -> str | None:
    return os.environ.get(_llm_var(role, suffix)) or None


def llm_roles(requested: tuple[str, ...] | list[str] = DEFAULT_LLM_ROLES) -> list[str]:
    """The requested roles plus every role with a ``CALLFLOWS_LLM_<ROLE>_URL`` in the environment."""
    from callflows.llm.registry import short_role

    roles = [short_role(r) for r in requested]
    for name, value in sorted(os.environ.items()):
        m = _URL_VAR.match(name)
        if m and value:
            role = m.group(1).lower()
            if role not in roles:
                roles.append(role)
    return list(dict.fromkeys(roles))


def check_llm(roles: tuple[str, ...] | list[str] = DEFAULT_LLM_ROLES, timeout: float = 3.0) -> list[Check]:
    from callflows.llm.base import LLMError
    from callflows.llm.registry import describe

    out = []
    for role in llm_roles(roles):
        name = f"llm {role}"
        try:
            cfg = describe(role)
        except LLMError as exc:
            out.append(Check(name, FAIL, str(exc)))
            continue
        if cfg["backend"] == "openai":
            out.append(probe_openai(name, cfg["url"], cfg["model"], _llm_env(role, "API_KEY"), timeout))
        else:
            out.append(_check_local_llm(name, role))
    return out


def probe_openai(name: str, url: str, model: str, api_key: str | None, timeout: float) -> Check:
    """``GET <url>/v1/models`` with ``timeout`` seconds for the whole exchange."""
    parsed = urllib.parse.urlparse(url.rstrip("/"))
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return Check(name, FAIL, f"not an http(s) URL: {url!r}")
    path = parsed.path.rstrip("/")
    path = (path if path.endswith("/v1") else path + "/v1") + "/models"
    started = time.monotonic()
    deadline = started + timeout
    if parsed.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parsed.hostname, parsed.port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    target = f"{parsed.scheme}://{parsed.netloc}{path}"
    try:
        conn.request("GET", path, headers=headers)
        _rearm(conn, deadline)
        response = conn.getresponse()
        chunks = []
        while True:
            _rearm(conn, deadline)
            block = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
            if not block:
                break
            chunks.append(block)
            if sum(map(len, chunks)) > 4 << 20:
                break
        body = b"".join(chunks)
    except (TimeoutError, socket.timeout):
        return Check(name, FAIL, f"{target}: no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException) as exc:
        return Check(name, FAIL, f"{target}: {_first_line(exc)}")
    finally:
        conn.close()
    ms = (time.monotonic() - started) * 1000
    if response.status != 200:
        hint = " (check the API key)" if response.status in (401, 403) else ""
        return Check(name, FAIL, f"{target}: HTTP {response.status}{hint}")
    try:
        data = json.loads(body)
        ids = [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict)]
    except (ValueError, AttributeError):
        return Check(name, FAIL, f"{target}: HTTP 200 but not an OpenAI model list")
    served = ", ".join(ids) or "none listed"
    if model and model != "default" and ids and model not in ids:
        return Check(name, WARN, f"{target} answers in {ms:.0f} ms but does not list model {model!r} "
                                 f"(serves: {served})")
    return Check(name, PASS, f"{target} answers in {ms:.0f} ms (models: {served})")


def _rearm(conn: http.client.HTTPConnection, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    if conn.sock is not None:
        conn.sock.settimeout(left)


def _check_local_llm(name: str, role: str) -> Check:
    from callflows.models import ModelError, env_override_name
    from callflows.models.manifest import Manifest
    from callflows.models.overrides import parse_override

    manifest_role = f"llm_{role}"
    url_var = _llm_var(role, "URL")
    override = os.environ.get(env_override_name(manifest_role))
    try:
        if override:
            location, _ = parse_override(override)
            if urllib.parse.urlparse(location).scheme in ("http", "https", "file"):
                path = None
                where = f"{env_override_name(manifest_role)} (downloaded on first use)"
            else:
                path = Path(location).expanduser()
                where = str(path)
        else:
            path = Manifest.load().spec(manifest_role).target
            where = str(path)
    except ModelError as exc:
        return Check(name, FAIL, f"no {url_var} and no local model: {exc}")
    if path is not None and not path.exists():
        return Check(name, FAIL, f"no {url_var} and the local GGUF is missing ({where}): "
                                 f"run `callflows models install {manifest_role}` or set {url_var}")
    if importlib.util.find_spec("llama_cpp") is None:
        return Check(name, FAIL, f"no {url_var}; local GGUF present but llama-cpp-python is not installed "
                                 "(scripts/install.sh llama)")
    return Check(name, PASS, f"no {url_var}: in-process llama.cpp on {where}")


# --------------------------------------------------------------------------- Twilio
def check_twilio(settings: Any) -> list[Check]:
    out = []
    token = settings.twilio_auth_token
    if token:
        if settings.insecure_dev:
            out.append(Check("twilio token", WARN, "set, but CALLFLOWS_INSECURE_DEV is on too: signatures are still "
                                                   "checked; remove the dev flag in production"))
        elif not re.fullmatch(r"[0-9a-f]{32}", token):
            out.append(Check("twilio token", WARN, "set, but not 32 hex digits like a Twilio auth token"))
        else:
            out.append(Check("twilio token", PASS, "TWILIO_AUTH_TOKEN set: every webhook and stream must be signed"))
    elif settings.insecure_dev:
        out.append(Check("twilio token", WARN, "TWILIO_AUTH_TOKEN not set: insecure dev mode, signatures NOT checked"))
    else:
        out.append(Check("twilio token", FAIL, "TWILIO_AUTH_TOKEN not set: `callflows serve` refuses to start "
                                               "(use --insecure-dev only on a development machine)"))
    sid = settings.twilio_account_sid
    if not sid:
        out.append(Check("twilio account sid", WARN, "TWILIO_ACCOUNT_SID not set: transfers to a person "
                                                     "(Twilio REST API) are disabled"))
    elif not re.fullmatch(r"AC[0-9a-fA-F]{32}", sid):
        out.append(Check("twilio account sid", FAIL, "TWILIO_ACCOUNT_SID is not AC + 32 hex digits: transfers "
                                                     "would be refused"))
    else:
        out.append(Check("twilio account sid", PASS, "set: transfers through the REST API enabled"))
    return out


def check_public_url(settings: Any) -> list[Check]:
    from callflows.telephony.routes import MEDIA_PATH, stream_url

    raw = (os.environ.get("CALLFLOWS_PUBLIC_URL") or "").strip()
    name = "public url"
    dev = settings.insecure_dev and not settings.twilio_auth_token
    bad = WARN if dev else FAIL
    if not settings.public_url:
        if dev:
            return [Check(name, WARN, "CALLFLOWS_PUBLIC_URL not set: URLs come from each request's Host "
                                      "(fine for local tests only)")]
        return [Check(name, FAIL, "CALLFLOWS_PUBLIC_URL not set: behind a TLS proxy the server sees http://, so "
                                  "every Twilio signature check fails; set it to https://<host Twilio calls>")]
    public = settings.public_url
    parts = urllib.parse.urlsplit(public)
    if raw != raw.strip() or " " in public:
        return [Check(name, FAIL, f"{public!r} contains spaces")]
    if not parts.netloc or not parts.hostname:
        return [Check(name, FAIL, f"{public!r} has no host")]
    if parts.username or parts.password:
        return [Check(name, FAIL, f"{parts.hostname}: credentials in the public URL would be sent to Twilio")]
    if parts.path or parts.query or parts.fragment:
        return [Check(name, FAIL, f"{public!r} has a path/query ({parts.path or ''}{'?' + parts.query if parts.query else ''}): "
                                  "give the bare origin https://host; routes are /twilio/voice and /twilio/media")]
    if parts.scheme != "https":
        return [Check(name, bad, f"{public!r} is not https://: Twilio needs https webhooks and a wss:// stream")]
    ws = stream_url(settings)
    expected = f"wss://{parts.netloc}{MEDIA_PATH}"
    if ws != expected:
        return [Check(name, FAIL, f"the TwiML stream URL would be {ws}, not {expected}")]
    if parts.hostname in ("localhost", "127.0.0.1", "::1") or parts.hostname.endswith(".local"):
        return [Check(name, WARN, f"{parts.hostname}: Twilio cannot reach this host")]
    note = " (trailing '/' dropped)" if raw.endswith("/") else ""
    return [Check(name, PASS, f"voice webhook {public}/twilio/voice, stream {ws}{note}")]


# --------------------------------------------------------------------------- all
def run_checks(*, full: bool = False, timeout: float = 3.0, model_roles: str = DEFAULT_MODEL_ROLES,
               llm_role_names: tuple[str, ...] = DEFAULT_LLM_ROLES, skip: tuple[str, ...] = (),
               insecure_dev: bool = False) -> list[Check]:
    import dataclasses

    from callflows.config import Settings

    settings = Settings.from_env()
    if insecure_dev:
        settings = dataclasses.replace(settings, insecure_dev=True)
    checks: list[Check] = []
    steps = (
        ("database", lambda: check_database(timeout)),
        ("models", lambda: check_models(_model_roles(model_roles, llm_role_names), full=full)),
        ("llm", lambda: check_llm(llm_role_names, timeout)),
        ("twilio", lambda: check_twilio(settings)),
        ("public-url", lambda: check_public_url(settings)),
    )
    for key, step in steps:
        if key in skip:
            continue
        try:
            checks.extend(step())
        except Exception as exc:  # noqa: BLE001 - a broken check is a FAIL row, not a traceback
            checks.append(Check(key, FAIL, f"check crashed: {_first_line(exc)}"))
    return checks


def _model_roles(roles: str, llm_role_names: tuple[str, ...]) -> str:
    """The roles to verify: ``roles``, plus ``llm_<role>`` for each LLM role served in-process
    (no URL), so its GGUF is checksummed too -- when the manifest knows that role."""
    extra = [f"llm_{r}" for r in llm_roles(llm_role_names) if not _llm_env(r, "URL")]
    if not extra:
        return roles
    try:
        from callflows.models.manifest import Manifest

        known = set(Manifest.load().specs)
    except Exception:  # noqa: BLE001 - the model check reports a broken manifest itself
        return roles
    return " ".join([roles, *[r for r in extra if r in known]])


def render_table(checks: list[Check]) -> str:
    width = max([len("CHECK"), *(len(c.name) for c in checks)])
    lines = [f"{'CHECK':<{width}}  STATUS  REASON"]
    lines += [f"{c.name:<{width}}  {c.status:<6}  {c.reason}" for c in checks]
    fails = sum(c.status == FAIL for c in checks)
    warns = sum(c.status == WARN for c in checks)
    lines.append(f"{len(checks)} checks: {len(checks) - fails - warns} pass, {warns} warn, {fails} fail")
    return "\n".join(lines)


@click.command("doctor")
@click.option("--full", is_flag=True, help="Re-hash every model (slow for the big ones) instead of trusting "
                                           "the stamp `callflows models install` left.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: {ok, checks: [{name, status, reason}]}.")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=3.0, show_default=True,
              help="Seconds for the LLM endpoint (and the database connection).")
@click.option("--models", "model_roles", default=DEFAULT_MODEL_ROLES, show_default=True,
              help="Model roles or groups to verify (models/manifest.yaml).")
@click.option("--llm-role", "llm_role_names", multiple=True, default=DEFAULT_LLM_ROLES, show_default=True,
              help="LLM role to check (repeatable); roles with CALLFLOWS_LLM_<ROLE>_URL set are always checked.")
@click.option("--skip", type=click.Choice(CHECKS), multiple=True, help="Leave a check out (repeatable).")
@click.option("--insecure-dev", is_flag=True, help="Judge as `callflows serve --insecure-dev` would run.")
def doctor(full: bool, as_json: bool, timeout: float, model_roles: str, llm_role_names: tuple[str, ...],
           skip: tuple[str, ...], insecure_dev: bool) -> None:
    """Check the deployment: database at head, models' checksums, LLM endpoint, Twilio token, public URL.

    Exit code 1 when any check FAILs."""
    checks = run_checks(full=full, timeout=timeout, model_roles=model_roles, llm_role_names=llm_role_names,
                        skip=skip, insecure_dev=insecure_dev)
    ok = not any(c.status == FAIL for c in checks)
    if as_json:
        click.echo(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, indent=1))
    else:
        click.echo(render_table(checks))
    if not ok:
        raise SystemExit(1)
