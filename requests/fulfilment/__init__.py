"""Fulfilment runs: the durable queue (engine), the worker and its leases, e-mail runs.

What a handler is given and answers, and how a webhook is called, is the catalog's
fulfilment kit (``servicebay.catalog.fulfilment``), shared with the readiness dry run.
"""
