"""A response shape declared once: its fields are the OpenAPI schema and build the body.

A `Shape` is a DRF serializer whose declared fields drf-spectacular reads for the document;
`Shape.body` builds the answer from the same fields (name, `source`, type), without DRF's
per-request copy of every field: a board read's 50 rows stay cheap. The rules are DRF's: a
`CharField` is `str(value)`, an `IntegerField` `int(value)`, None stays None, a nested shape
is that shape's body; any other field answers with its own `to_representation`. A field with
`required=False` is left out while its value is None; `computed(field, read)` takes its value
from a function of the instance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any, ClassVar

from rest_framework import serializers

_ALWAYS = object  # no value's type `is` object: convert every time


def computed(field: serializers.Field, read: Callable[[Any], Any]) -> serializers.Field:
    """`field`, whose value is `read(instance)` (documented as `field` says)."""
    field.shape_read = read
    return field


def _plan_of(name: str, field: serializers.Field) -> tuple[str, Callable, type, Callable | None, bool]:
    read = getattr(field, "shape_read", None) or attrgetter(field.source or name)
    if isinstance(field, serializers.ListSerializer) and isinstance(field.child, Shape):
        child = type(field.child)
        convert, kind = (lambda values: [child.body(value) for value in values]), _ALWAYS
    elif isinstance(field, Shape):
        convert, kind = type(field).body, _ALWAYS
    elif isinstance(field, serializers.CharField):
        convert, kind = str, str
    elif isinstance(field, serializers.IntegerField):
        convert, kind = int, int
    else:
        convert, kind = field.to_representation, _ALWAYS
    return name, read, kind, convert, not field.required


class Shape(serializers.Serializer):
    # A response shape: declare fields as on any serializer; `body` builds the answer. (No
    # docstring: drf-spectacular would show it as every shape's description.)

    _plan: ClassVar[tuple] = ()

    @classmethod
    def body(cls, instance: Any = None, /, **given: Any) -> dict[str, Any]:
        """The answer for `instance`; a field named in `given` takes that (final) value instead."""
        plan = cls.__dict__.get("_plan") or cls._compile()
        out: dict[str, Any] = {}
        for name, read, kind, convert, optional in plan:
            if name in given:
                out[name] = given[name]
                continue
            value = read(instance)
            if value is None:
                if not optional:
                    out[name] = None
            else:
                out[name] = value if type(value) is kind else convert(value)
        return out

    @classmethod
    def many(cls, instances: Iterable[Any]) -> list[dict[str, Any]]:
        """The bodies of `instances`, in order."""
        return [cls.body(instance) for instance in instances]

    @classmethod
    def _compile(cls) -> tuple:
        cls._plan = tuple(_plan_of(name, field) for name, field in cls._declared_fields.items())
        return cls._plan

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return self.body(instance)
