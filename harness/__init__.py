"""What tests/ and bench/ both drive: the fixture map (fixture_map) and real processes over it:
daphne and Celery workers (live_server, worker), the duel stack with its HTTP and WebSocket
clients (duel_stack) and the production topology on PostgreSQL (production_stack).
Development only: the Docker images leave it out (.dockerignore)."""
