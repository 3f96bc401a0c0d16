# Nabla: the derivative service (SPEC §4). The same server as `make serve`; with
# NABLA_DATABASE_URL set it uses PostgreSQL (docker-compose.yml runs three behind nginx).
#   docker build -t nabla . && docker run -p 8000:8000 -v nabla-data:/data nabla
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NABLA_HOST=0.0.0.0 \
    NABLA_PORT=8000 \
    NABLA_WORKERS=1 \
    NABLA_DATA_DIR=/data \
    NUMBA_CACHE_DIR=/tmp/nabla-numba

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir adcore service \
    && touch adcore/__init__.py service/__init__.py \
    && pip install '.[service,postgres]' \
    && pip uninstall -y nabla \
    && rm -rf adcore service

COPY adcore ./adcore
COPY service ./service
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app nabla \
    && mkdir -p /data \
    && chown nabla /data

USER nabla
VOLUME ["/data"]
EXPOSE 8000

# The healthcheck needs no curl: the image's Python fetches /healthz.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NABLA_PORT', '8000'), timeout=2)"

# sh -c so that the NABLA_ variables choose host, port and workers at run time;
# exec so that uvicorn is PID 1 and gets SIGTERM directly.
CMD ["sh", "-c", "exec uvicorn service.main:app --host \"$NABLA_HOST\" --port \"$NABLA_PORT\" --workers \"$NABLA_WORKERS\" --loop uvloop --http httptools --proxy-headers"]
