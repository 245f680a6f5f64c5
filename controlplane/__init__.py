"""Sahab's core: domain, services, persistence, workflows and tasks.

Nothing here imports the edges (api, cli). Only the runner (controlplane.provisioning.pulumi)
reaches the stack programs, through stacks' registry; stacks import nothing of the core but
controlplane.contract.
"""
