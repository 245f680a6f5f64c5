"""Metering: read quota and real usage from the clouds, keep timestamped samples,
report usage over a period, find drift between what Sahab granted and what the cloud has,
and warn organisations whose usage nears a quota.

The clouds are read through the `CloudReader` protocol (reader.py); everything else works on
rows in the database, so the API and /metrics never call a cloud."""
