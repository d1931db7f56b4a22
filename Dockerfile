# syntax=docker/dockerfile:1
# triagebot as a container image: `docker build -t triagebot .`
# The build stage turns the source into wheels (triagebot's and its runtime dependencies');
# the final stage installs them into a fresh virtualenv and keeps nothing else: no compiler,
# no source tree, no dev dependencies. tests/deploy/test_container.py rehearses these steps.

FROM python:3.11.13-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY playbooks ./playbooks
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.13-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/triagebot/bin:$PATH \
    TRIAGEBOT_CONFIG=/etc/triagebot/config.toml \
    MPLCONFIGDIR=/opt/triagebot/matplotlib
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    /usr/local/bin/python -m venv --without-pip /opt/triagebot \
    && /usr/local/bin/python -m pip --no-cache-dir --python /opt/triagebot/bin/python \
        install --no-index --find-links /wheels /wheels/triagebot-*.whl \
    && /usr/local/bin/python -m pip uninstall --yes --no-cache-dir pip setuptools wheel \
    && useradd --system --user-group --uid 10001 --no-create-home \
        --home-dir /var/lib/triagebot --shell /usr/sbin/nologin triagebot \
    && mkdir -p "$MPLCONFIGDIR" /etc/triagebot/playbooks /var/lib/triagebot \
    && /opt/triagebot/bin/python -c "import matplotlib.font_manager" \
    && chown -R triagebot:triagebot "$MPLCONFIGDIR" /var/lib/triagebot
COPY deploy/container/config.toml /etc/triagebot/config.toml
USER 10001:10001
WORKDIR /var/lib/triagebot
VOLUME ["/var/lib/triagebot"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["triagebot"]
CMD ["serve"]
