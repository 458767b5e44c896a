# hookrouter: `docker run IMAGE` serves webhooks on :8000; `docker run IMAGE worker` runs routing workers.
# Needs REDIS_URL (or HOOKROUTER_REDIS_URL) and HOOKROUTER_MASTER_KEY; see docker-compose.yml.

# The base image is pinned by digest, so a rebuild gets the bytes CI and the last release were built on,
# not whatever the tag points at that day. To move to a newer python:3.11-slim (do it for its security
# fixes): `docker buildx imagetools inspect python:3.11-slim` prints the current digest; or build with
# --build-arg PYTHON_IMAGE=... to choose another.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# Build stage: install the package and its runtime dependencies (no test extras) into a virtualenv,
# so the final image carries neither the sources nor pip's build-time downloads.
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The pip and setuptools the base image and a new venv come with lag behind their security fixes
# (pip < 25.3: CVE-2025-8869; setuptools < 78.1.1: CVE-2025-47273).
RUN python -m venv /opt/hookrouter \
    && /opt/hookrouter/bin/pip install --upgrade 'pip>=25.3' 'setuptools>=78.1.1'
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY router/ router/
COPY verifiers/ verifiers/
COPY subscriptions/ subscriptions/
# Every runtime dependency (uvloop, httptools, hiredis, cryptography, pydantic-core) ships manylinux
# wheels for CPython 3.11 on amd64 and arm64, so no compiler is needed.
# The versions CI tested: requirements.lock pins the whole tree.
RUN /opt/hookrouter/bin/pip install -c requirements.lock . \
    && /opt/hookrouter/bin/hookrouter --help >/dev/null


FROM ${PYTHON_IMAGE}

# The base image's own pip and setuptools are not used at run time, but scanners rightly flag them.
RUN python -m pip install --no-cache-dir --upgrade 'pip>=25.3' 'setuptools>=78.1.1'

# A fixed numeric uid/gid, so `runAsNonRoot` checks and volume ownership do not depend on name lookups.
RUN groupadd --system --gid 10001 hookrouter \
    && useradd --system --uid 10001 --gid hookrouter --home-dir /home/hookrouter --create-home \
       --shell /usr/sbin/nologin hookrouter

COPY --from=build /opt/hookrouter /opt/hookrouter

ENV PATH="/opt/hookrouter/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOOKROUTER_HOST=0.0.0.0 \
    HOOKROUTER_PORT=8000 \
    HOOKROUTER_HEALTH_PORT=8001 \
    HOOKROUTER_DATA_DIR=/home/hookrouter/.hookrouter

USER 10001:10001
WORKDIR /home/hookrouter
EXPOSE 8000 8001

# Liveness, not readiness: a Redis outage must not get healthy containers restarted (/readyz tells a load
# balancer or a Kubernetes readiness probe about Redis). No curl in the slim image: python's urllib, which
# raises unless /healthz answers 2xx. `serve` answers on HOOKROUTER_PORT, `worker` on HOOKROUTER_HEALTH_PORT:
# either one answering is healthy.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u\nfor p in (os.environ.get('HOOKROUTER_PORT', '8000'), os.environ.get('HOOKROUTER_HEALTH_PORT', '8001')):\n    try:\n        u.urlopen('http://127.0.0.1:%s/healthz' % p, timeout=2); raise SystemExit(0)\n    except OSError: pass\nraise SystemExit(1)"]

# Exec form: hookrouter is PID 1 and gets SIGTERM itself (uvicorn and the worker both drain on it).
ENTRYPOINT ["hookrouter"]
CMD ["serve"]
