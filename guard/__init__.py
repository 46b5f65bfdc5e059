"""The service's defences against abuse (docs/SECURITY.md): who the client is (`client`), the
limits on what one client may take (`limits`), the bounds on what a request may carry and the
headers every answer carries (`middleware`)."""
