# Two images (see docker-compose.yml), built as targets of this file:
#   web     daphne, `migrate` and the map imports: requirements/web.txt, no torch
#   worker  the Celery workers, training and benchmarks: requirements/worker.txt, with torch
# Neither carries the tests or their tools (requirements/dev.txt; .dockerignore).
FROM node:20-bookworm-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm AS base
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 GEOGAME_DATA_DIR=/data
WORKDIR /app
# Not root; the data folder (and the volumes mounted in it) belong to this user.
RUN useradd --create-home --uid 1000 geogame \
    && mkdir -p /data/media /data/artefacts \
    && chown -R geogame /data
VOLUME /data

FROM base AS worker
COPY requirements/web.txt requirements/worker.txt requirements/
# torch's CPU wheel by default (PyTorch's CPU index); an empty TORCH_INDEX takes PyPI's CUDA build
# instead (the GPU worker in docker-compose.yml).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} -r requirements/worker.txt
COPY --from=assets /app/node_modules ./node_modules
COPY . .
USER geogame
CMD ["celery", "-A", "config", "worker", "--loglevel=INFO", "--pool", "threads", "--concurrency", "16"]

# The last stage: what `docker build .` makes without --target.
FROM base AS web
COPY requirements/web.txt requirements/
RUN pip install -r requirements/web.txt
COPY --from=assets /app/node_modules ./node_modules
COPY . .
USER geogame
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "config.asgi:application"]
