"""Organisation webhooks: where usage alerts go, how each delivery is checked, sent, retried and kept."""
