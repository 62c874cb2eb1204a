"""A TEST DOUBLE of the Kubernetes API server (tests only; never shipped, never a cluster).

`python -m tests.kubeapi --port PORT --kubeconfig FILE` serves until killed and writes a
kubeconfig whose context is `accelctl-test` (namespace `default`). In tests,
`KubeAPIServer(...).start()` runs it in-process, where faults can be injected.
"""
