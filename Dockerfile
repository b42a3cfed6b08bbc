# commentd: a slim, non-root image. Build: docker build -t commentd .
# Stage 1 builds the wheel (with the migrations inside it); stage 2 installs only the wheel.
FROM python:3.12-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.*
COPY pyproject.toml README.md ./
COPY service ./service
COPY migrations ./migrations
RUN python -m build --wheel --outdir /wheels

FROM python:3.12-slim
# The embedded default (SQLite) lands on the data volume; compose sets PostgreSQL instead.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COMMENTD_DATABASE_URL=sqlite:////data/commentd.db
COPY --from=build /wheels /wheels
# Serving runs with -OO (CMD): without docstrings and asserts a worker process is 3-6 MB
# smaller (docs/architecture.md, "What a worker carries"). The .opt-2.pyc files it loads are
# compiled here: PYTHONDONTWRITEBYTECODE keeps Python from writing them at run time, and a
# -OO process that compiles every module from source takes more memory, not less.
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && python -m compileall -q -o 2 /usr/local/lib/python3.12 \
    && groupadd --system --gid 10001 commentd \
    && useradd --system --uid 10001 --gid commentd --home-dir /data --shell /usr/sbin/nologin commentd \
    && mkdir -p /data && chown commentd:commentd /data
USER commentd:commentd
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# /healthz answers 200 only when the database does; no curl in a slim image, so Python asks.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
CMD ["python", "-OO", "-m", "commentd", "serve", "--host", "0.0.0.0", "--port", "8080"]
