"""What every admin page of the service shares."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse and search, never add, change or delete: the log and the snapshots are written
    only by the services, and a hand edit would make the boards disagree with them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
