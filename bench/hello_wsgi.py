"""The site with the bench's hello-world DRF view, for ``bench_warm_api.py --http``."""

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()

from bench_warm_api import install_hello  # noqa: E402  (Django is set up first)

install_hello()
