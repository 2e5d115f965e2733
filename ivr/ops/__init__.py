"""Operations: health and readiness, metrics, logs, security headers, request guards, gunicorn."""
