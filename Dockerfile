# One image for the three services; FLARE_SERVICE (intake | router | notifier) picks which runs.
# The deploy issue lints this with hadolint and checkov; it is not built on machines without Docker.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /opt/flare
COPY pyproject.toml constraints.txt README.md ./
COPY shared ./shared
COPY services ./services
RUN /opt/flare/bin/pip install --no-cache-dir -c constraints.txt .

FROM python:3.11-slim-bookworm
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin flare
COPY --from=build /opt/flare /opt/flare
# The default severity policy; deployments mount their own over it (a ConfigMap on Kubernetes).
COPY policy/default.yaml /etc/flare/policy/policy.yaml
ENV PATH=/opt/flare/bin:$PATH \
    FLARE_POLICY_PATH=/etc/flare/policy/policy.yaml \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FLARE_HOST=0.0.0.0 \
    FLARE_SERVICE=intake \
    FLARE_PORT=8000
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['FLARE_PORT'] + '/healthz', timeout=2)"]
# `migrate` instead of `serve` applies the service's schema migrations and exits.
ENTRYPOINT ["sh", "-c", "exec python -m \"services.$FLARE_SERVICE\" \"$@\"", "flare"]
CMD ["serve"]
