"""Notifications of period results (SPEC section 14): the outbox's sender and the messages it
sends. An edge, like github/: it reads the results (scoring.results) and shapes them with the
api kit; the outbox rows themselves are written by the finalizer, in the results' transaction."""
