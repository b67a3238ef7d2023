# The production image: web (gunicorn + whitenoise), worker and beat all run it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN pip install .

COPY . .
RUN useradd --create-home --uid 10001 --user-group abm \
    && mkdir -p /app/var \
    && chown -R abm:abm /app/var
USER abm

EXPOSE 8000
CMD ["gunicorn", "abm_site.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
