# Renum: one image for the API, the workers and the migrate job.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RENUM_MIGRATIONS_DIR=/app/migrations
WORKDIR /app

RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev curl \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY renum ./renum
COPY suna_client ./suna_client
COPY suna_sim ./suna_sim
COPY dsl ./dsl
COPY migrations ./migrations
RUN pip install .

RUN useradd --create-home renum
USER renum
EXPOSE 8000
CMD ["renum", "serve", "--host", "0.0.0.0", "--port", "8000"]
