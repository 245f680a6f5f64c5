"""Sahab's core: domain, services, persistence, workflows and tasks.

Nothing here imports the edges (api, cli) or the stack programs (stacks).
"""
