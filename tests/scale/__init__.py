"""Scale-out: the read-replica router, and real processes (make test-scale)."""
