"""Pulumi programs. They import nothing of Sahab's core but its contract types
(controlplane.contract); the core finds them by name when a provisioner runs."""
