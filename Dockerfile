# genaiops controller image: `docker build -t genaiops .` then see docs/operations.md.
# The default command runs the GitOps loop as a service: metrics and probes on :9090, JSON logs on stderr.

# --- build: a wheel of this repository (no compilers end up in the runtime image) ---------------------------
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller ./controller
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime ------------------------------------------------------------------------------------------------
FROM python:3.11-slim
# git (and ssh for git@ URLs) for `reconcile --git-url`; ca-certificates for HTTPS remotes and Google APIs
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels

# an unprivileged user with a fixed UID, so Kubernetes can check runAsNonRoot
RUN groupadd --gid 10001 genaiops \
    && useradd --uid 10001 --gid genaiops --create-home --home-dir /home/genaiops --shell /usr/sbin/nologin genaiops
USER 10001:10001
WORKDIR /home/genaiops
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GIT_TERMINAL_PROMPT=0

EXPOSE 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=4)"]

ENTRYPOINT ["genaiops"]
CMD ["reconcile", "--watch", "--metrics-port", "9090", "--log-format", "json"]
