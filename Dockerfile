# careloop: multi-stage build, CPU-only torch, the MiniLM encoder baked in (no download at run time).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU wheel of torch first, so nothing pulls a CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY careloop careloop
COPY nlp nlp
COPY crm crm
COPY bot bot
COPY scheduler scheduler
COPY web web
COPY migrations migrations
COPY app app
RUN pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    CARELOOP_DATA_DIR=/data \
    CARELOOP_HOST=0.0.0.0 \
    CARELOOP_PORT=8000
RUN useradd --system --uid 10001 --home-dir /data careloop && mkdir -p /data && chown careloop /data
COPY --from=build /opt/venv /opt/venv
USER careloop
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
CMD ["sh", "-c", "careloop db upgrade && careloop serve"]
