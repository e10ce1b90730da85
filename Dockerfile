# One image for the web server and the Celery workers (see docker-compose.yml).
FROM node:20-bookworm-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements.txt ./
# The pinned dependencies in one step. torch's CPU wheel by default (PyTorch's CPU index); an empty
# TORCH_INDEX takes PyPI's CUDA build instead (the GPU worker in docker-compose.yml).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} -r requirements.txt
COPY --from=assets /app/node_modules ./node_modules
COPY . .
# Not root; the data folder (and the volumes mounted in it) belong to this user.
RUN useradd --create-home --uid 1000 geogame \
    && mkdir -p /data/media /data/artefacts \
    && chown -R geogame /data
USER geogame
ENV GEOGAME_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "config.asgi:application"]
