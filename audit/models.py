from django.db import models


class AuditRecord(models.Model):
    """One change an operator made: who (`actor`: the admin user, or `command:<OS user>`), through
    what (`via`: admin or command), what (`action`), to what (`target`), with its details."""

    class Action(models.TextChoices):
        EXCLUDE = "exclude"
        INCLUDE = "include"
        RESCORE = "rescore"
        TARGET_ADD = "target_add"
        TARGET_CHANGE = "target_change"
        TARGET_DELETE = "target_delete"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150)
    via = models.CharField(max_length=16)
    action = models.CharField(max_length=32, choices=Action.choices)
    target = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"
