"""Memory probes: measure what a trained model remembers, how far back, and where.

``scoring`` turns a model into exact log-probabilities of continuations; the suites build contexts
(cue, filler, query) and report accuracy by distance.
"""
