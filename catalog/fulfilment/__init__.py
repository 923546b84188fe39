"""The fulfilment kit: what a handler is given, what it answers, and how a webhook is called.

Shared by the catalog's readiness dry run and the requests engine's real attempts, so a
dry run judges a receiver exactly as a real delivery does. Plugin authors import
everything they need from ``servicebay.catalog.fulfilment.plugins``.
"""
