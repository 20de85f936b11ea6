"""`make bench`: throughput, memory and ingest benchmarks, each a ratio to a reference measured in
the same run on the same machine (`python -m tests.bench`).

Every server binds 127.0.0.1 on a free port, gets a throwaway directory and is ended by its pid;
every load run is bounded in time (wrk `-d`) or count. Nothing here asserts: the result is a table.
"""
