# The production image: web (gunicorn + whitenoise), worker and beat all run it.
# docker-compose.yml puts nginx (deploy/proxy.Dockerfile) in front of web.
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
# var/static exists in the image so the `static` volume mounted there (shared with the
# proxy) starts out owned by abm, who collects the static files into it.
RUN useradd --create-home --uid 10001 --user-group abm \
    && mkdir -p /app/var/static \
    && chown -R abm:abm /app/var
USER abm

EXPOSE 8000
CMD ["gunicorn", "abm_site.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
