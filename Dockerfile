# streamfleet: one image for every role. The command picks the role:
#   docker run IMAGE appliance serve --config /etc/streamfleet/appliance.toml
#   docker run IMAGE control-plane serve | steering serve | origin serve | origin worker ...
# See docs/isp-appliance.md and deploy/compose.yaml.

ARG PYTHON_VERSION=3.11.14
ARG DEBIAN_RELEASE=bookworm

# ---- stage 1: build the streamfleet wheel and a wheel of every dependency ----------------------
FROM python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only what the wheel is built from (see .dockerignore), so edits to tests or docs reuse the cache.
COPY pyproject.toml README.md ./
COPY streamfleet/ streamfleet/
COPY origin/ origin/
COPY control_plane/ control_plane/
COPY steering/ steering/
COPY appliance/ appliance/
COPY player/ player/
COPY web/ web/
# Dependencies come as wheels where PyPI has them; anything that must compile does so here, not in
# the final image, which gets no compiler.
RUN python -m pip wheel --wheel-dir /wheels ".[postgres,s3]"

# ---- stage 2: the runtime image ----------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE} AS runtime

LABEL org.opencontainers.image.title="streamfleet" \
      org.opencontainers.image.description="Video CDN: cache appliance, control plane, steering, origin" \
      org.opencontainers.image.licenses="Apache-2.0"

# tini as PID 1: forwards SIGTERM to the service (which drains and exits 0) and reaps the
# ffmpeg children of origin workers, which a Python PID 1 would leave as zombies.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/streamfleet \
    PATH=/opt/streamfleet/bin:$PATH

# Installed from the wheels only (--no-index): the runtime stage never reaches PyPI. The wheels
# are bind-mounted (BuildKit, Docker's default builder since 23.0), not copied, so they add nothing
# to the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv "$VIRTUAL_ENV" \
    && "$VIRTUAL_ENV/bin/pip" install --no-index --find-links=/wheels "streamfleet[postgres,s3]" \
    && streamfleet --version

# A fixed, unprivileged uid/gid so volume ownership can be prepared on the host (chown 10001).
RUN groupadd --system --gid 10001 streamfleet \
    && useradd --system --uid 10001 --gid streamfleet --home-dir /var/lib/streamfleet \
       --no-create-home --shell /usr/sbin/nologin streamfleet \
    && mkdir -p /etc/streamfleet /var/lib/streamfleet/data/appliance /var/lib/streamfleet/data/origin \
       /var/lib/streamfleet/data/control_plane \
    && chown -R streamfleet:streamfleet /var/lib/streamfleet

# The default data_dir/db_path of each role ("data/...") resolve under this directory.
WORKDIR /var/lib/streamfleet
# Appliance cache disk, origin object store + catalog, control-plane registry.
VOLUME ["/var/lib/streamfleet/data/appliance", "/var/lib/streamfleet/data/origin", \
        "/var/lib/streamfleet/data/control_plane"]

USER 10001:10001

# Ports by default: origin 8000, steering 8080, appliance 8081, control plane 8090 (HTTP) and
# 50051 (gRPC). Services listen on 127.0.0.1 unless their config says host = "0.0.0.0".
EXPOSE 8000 8080 8081 8090 50051

# Probes the appliance's /healthz (the role ISPs run on their own); other roles override the
# probe URL (deploy/compose.yaml, or docker run --health-cmd). The probe is standard-library
# Python: no curl in the image. An appliance that is overloaded or draining answers 503.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["streamfleet", "healthcheck", "--quiet", "--timeout", "4", "http://127.0.0.1:8081/healthz"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "streamfleet"]
CMD ["--help"]
