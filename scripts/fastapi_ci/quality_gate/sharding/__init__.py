"""The test-sharding subsystem: the suite split over several pytest processes.

`split` deals the test files into shards of about equal time, by `durations` (the last
runs' seconds per file, kept in fastapi-ci's cache); `suite` runs the shards, re-runs in
one process what failed in them (`rerun`) and merges their coverage data into one report.
"""
