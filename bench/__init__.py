"""``make bench``: a large newsroom in its own database, loaded with wrk."""
