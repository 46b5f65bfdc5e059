"""Who changed what, and when: a record of every exclusion, inclusion, rescore and notification
target change, made in the admin or by a command (`audit.services.audit_record`), shown
read-only in the admin. A leaf: it imports nothing of the service's."""
