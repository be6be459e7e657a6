FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
RUN pip install . && useradd --create-home --uid 10001 syndicate \
    && mkdir -p /app/var && chown syndicate /app/var
USER syndicate
# config/ is mounted at run time (docker-compose.yml); the default path is relative to /app.
ENTRYPOINT ["syndicate"]
CMD ["run"]
