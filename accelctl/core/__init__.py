"""Pure core of accelctl: data models, loading, validation and queries.

Nothing under this package imports textual, rich, click, ray, kubernetes or paramiko.
"""
