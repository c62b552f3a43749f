"""gunicorn as the issue describes it: 2 sync workers, nothing else.

``make bench`` measures the project's own ``gunicorn.conf.py`` (its defaults:
2 × cores + 1 sync workers, the set-up docs/deploy.md recommends);
``bench/run.py --gunicorn issue`` passes this file with ``-c`` instead, so
that the project's file (read from the current folder by default) does not
apply, to compare with the issue's reference figures.
"""

workers = 2
worker_class = "sync"
threads = 1
keepalive = 2
timeout = 120
preload_app = False
control_socket_disable = True
accesslog = None
errorlog = "-"
loglevel = "warning"
