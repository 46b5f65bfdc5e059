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

class Row(_message.Message):
    __slots__ = ("rank", "user_id", "score", "login", "avatar_url")
    RANK_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    AVATAR_URL_FIELD_NUMBER: _ClassVar[int]
    rank: int
    user_id: str
    score: int
    login: str
    avatar_url: str
    def __init__(self, rank: _Optional[int] = ..., user_id: _Optional[str] = ..., score: _Optional[int] = ..., login: _Optional[str] = ..., avatar_url: _Optional[str] = ...) -> None: ...

class Board(_message.Message):
    __slots__ = ("timeframe", "period", "project_id")
    TIMEFRAME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    timeframe: Timeframe
    period: str
    project_id: str
    def __init__(self, timeframe: _Optional[_Union[Timeframe, str]] = ..., period: _Optional[str] = ..., project_id: _Optional[str] = ...) -> None: ...

class GetStandingRequest(_message.Message):
    __slots__ = ("timeframe", "period", "project_id", "user_id", "around")
    TIMEFRAME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AROUND_FIELD_NUMBER: _ClassVar[int]
    timeframe: Timeframe
    period: str
    project_id: str
    user_id: str
    around: int
    def __init__(self, timeframe: _Optional[_Union[Timeframe, str]] = ..., period: _Optional[str] = ..., project_id: _Optional[str] = ..., user_id: _Optional[str] = ..., around: _Optional[int] = ...) -> None: ...

class GetStandingResponse(_message.Message):
    __slots__ = ("board", "user_id", "rank", "score", "total", "login", "avatar_url", "around")
    BOARD_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    AVATAR_URL_FIELD_NUMBER: _ClassVar[int]
    AROUND_FIELD_NUMBER: _ClassVar[int]
    board: Board
    user_id: str
    rank: int
    score: int
    total: int
    login: str
    avatar_url: str
    around: _containers.RepeatedCompositeFieldContainer[Row]
    def __init__(self, board: _Optional[_Union[Board, _Mapping]] = ..., user_id: _Optional[str] = ..., rank: _Optional[int] = ..., score: _Optional[int] = ..., total: _Optional[int] = ..., login: _Optional[str] = ..., avatar_url: _Optional[str] = ..., around: _Optional[_Iterable[_Union[Row, _Mapping]]] = ...) -> None: ...

class WatchLeaderboardRequest(_message.Message):
    __slots__ = ("timeframe", "period", "project_id")
    TIMEFRAME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    timeframe: Timeframe
    period: str
    project_id: str
    def __init__(self, timeframe: _Optional[_Union[Timeframe, str]] = ..., period: _Optional[str] = ..., project_id: _Optional[str] = ...) -> None: ...

class BoardPage(_message.Message):
    __slots__ = ("board", "total", "rows", "version")
    BOARD_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    board: Board
    total: int
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    version: str
    def __init__(self, board: _Optional[_Union[Board, _Mapping]] = ..., total: _Optional[int] = ..., rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ..., version: _Optional[str] = ...) -> None: ...
