from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Timeframe(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIMEFRAME_UNSPECIFIED: _ClassVar[Timeframe]
    TIMEFRAME_ALL_TIME: _ClassVar[Timeframe]
    TIMEFRAME_YEARLY: _ClassVar[Timeframe]
    TIMEFRAME_MONTHLY: _ClassVar[Timeframe]
    TIMEFRAME_WEEKLY: _ClassVar[Timeframe]
    TIMEFRAME_DAILY: _ClassVar[Timeframe]
TIMEFRAME_UNSPECIFIED: Timeframe
TIMEFRAME_ALL_TIME: Timeframe
TIMEFRAME_YEARLY: Timeframe
TIMEFRAME_MONTHLY: Timeframe
TIMEFRAME_WEEKLY: Timeframe
TIMEFRAME_DAILY: Timeframe

class LeaderboardRow(_message.Message):
    __slots__ = ("rank", "user_id", "score")
    RANK_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    rank: int
    user_id: str
    score: int
    def __init__(self, rank: _Optional[int] = ..., user_id: _Optional[str] = ..., score: _Optional[int] = ...) -> None: ...

class GetLeaderboardRequest(_message.Message):
    __slots__ = ("timeframe", "project_id", "page_size", "offset")
    TIMEFRAME_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    timeframe: Timeframe
    project_id: str
    page_size: int
    offset: int
    def __init__(self, timeframe: _Optional[_Union[Timeframe, str]] = ..., project_id: _Optional[str] = ..., page_size: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class GetLeaderboardResponse(_message.Message):
    __slots__ = ("timeframe", "project_id", "rows")
    TIMEFRAME_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    timeframe: Timeframe
    project_id: str
    rows: _containers.RepeatedCompositeFieldContainer[LeaderboardRow]
    def __init__(self, timeframe: _Optional[_Union[Timeframe, str]] = ..., project_id: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[LeaderboardRow, _Mapping]]] = ...) -> None: ...
