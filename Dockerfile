# One image for the web server and the Celery worker (see docker-compose.yml).
FROM node:20-bookworm-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements.txt ./
# torch's CPU wheel comes from PyTorch's CPU index inside the image.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
COPY --from=assets /app/node_modules ./node_modules
COPY . .
ENV GEOGAME_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "geogame.asgi:application"]
