# The reverse proxy of docker-compose.yml: Debian's nginx with deploy/nginx.conf, the same
# nginx the test suite runs the config with (tests/test_proxy.py).
FROM debian:bookworm-slim

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       nginx gettext-base curl \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
    && sed -i 's/worker_connections [0-9]*;/worker_connections 4096;/' /etc/nginx/nginx.conf \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log

COPY nginx.conf /etc/nginx/abm.conf.template

# The app's limits, overridden by docker-compose.yml with the values the app gets.
ENV ABM_MAX_UPLOAD_BYTES=209715200 \
    WEB_TIMEOUT=30

EXPOSE 80
CMD ["sh", "-c", "envsubst '${ABM_MAX_UPLOAD_BYTES} ${WEB_TIMEOUT}' < /etc/nginx/abm.conf.template > /etc/nginx/conf.d/abm.conf && exec nginx -g 'daemon off;'"]
