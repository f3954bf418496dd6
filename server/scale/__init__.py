"""One node of the service: a single server process, or several worker processes behind one port (a supervisor
with its routing front), its drain on SIGTERM, and the HAProxy agent that tells a load balancer its headroom."""
