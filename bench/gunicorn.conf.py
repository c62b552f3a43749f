"""gunicorn as the issue measures it: 2 sync workers, nothing else.

``bench/run.py --gunicorn issue`` (the default) passes this file with ``-c``
so that the project's own ``gunicorn.conf.py`` (read from the current folder
by default) does not apply; ``--gunicorn project`` uses the project's file
instead, to measure the recommended production set-up.
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
