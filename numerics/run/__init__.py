"""The runner: sweeps of checks as resumable tasks (process pool or dask), the report, and the ``sgdnoise``
command line. Everything may be imported here; nothing imports it."""
