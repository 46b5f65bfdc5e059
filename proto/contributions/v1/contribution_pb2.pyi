import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventName(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_NAME_UNSPECIFIED: _ClassVar[EventName]
    PULL_REQUEST_OPENED: _ClassVar[EventName]
    PULL_REQUEST_CLOSED: _ClassVar[EventName]
    PULL_REQUEST_REVIEW_SUBMITTED: _ClassVar[EventName]
    ISSUE_OPENED: _ClassVar[EventName]
    ISSUE_CLOSED: _ClassVar[EventName]
    ISSUE_COMMENTED: _ClassVar[EventName]
    PUSHED: _ClassVar[EventName]

class EventProvider(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_PROVIDER_UNSPECIFIED: _ClassVar[EventProvider]
    GITHUB: _ClassVar[EventProvider]

class ReviewState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_STATE_UNSPECIFIED: _ClassVar[ReviewState]
    APPROVED: _ClassVar[ReviewState]
    CHANGES_REQUESTED: _ClassVar[ReviewState]
    COMMENTED: _ClassVar[ReviewState]

class IssueCloseReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ISSUE_CLOSE_REASON_UNSPECIFIED: _ClassVar[IssueCloseReason]
    COMPLETED: _ClassVar[IssueCloseReason]
    NOT_PLANNED: _ClassVar[IssueCloseReason]
    REOPENED: _ClassVar[IssueCloseReason]

class PrCloseReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PR_CLOSE_REASON_UNSPECIFIED: _ClassVar[PrCloseReason]
    MERGED: _ClassVar[PrCloseReason]
    CLOSED_WITHOUT_MERGE: _ClassVar[PrCloseReason]
    DRAFT_CONVERTED: _ClassVar[PrCloseReason]
EVENT_NAME_UNSPECIFIED: EventName
PULL_REQUEST_OPENED: EventName
PULL_REQUEST_CLOSED: EventName
PULL_REQUEST_REVIEW_SUBMITTED: EventName
ISSUE_OPENED: EventName
ISSUE_CLOSED: EventName
ISSUE_COMMENTED: EventName
PUSHED: EventName
EVENT_PROVIDER_UNSPECIFIED: EventProvider
GITHUB: EventProvider
REVIEW_STATE_UNSPECIFIED: ReviewState
APPROVED: ReviewState
CHANGES_REQUESTED: ReviewState
COMMENTED: ReviewState
ISSUE_CLOSE_REASON_UNSPECIFIED: IssueCloseReason
COMPLETED: IssueCloseReason
NOT_PLANNED: IssueCloseReason
REOPENED: IssueCloseReason
PR_CLOSE_REASON_UNSPECIFIED: PrCloseReason
MERGED: PrCloseReason
CLOSED_WITHOUT_MERGE: PrCloseReason
DRAFT_CONVERTED: PrCloseReason

class PullRequestOpened(_message.Message):
    __slots__ = ("user_id", "pr_id", "pr_number", "title", "branch_name", "target_branch", "labels", "assignees")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PR_ID_FIELD_NUMBER: _ClassVar[int]
    PR_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BRANCH_NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_BRANCH_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEES_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    pr_id: int
    pr_number: int
    title: str
    branch_name: str
    target_branch: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    assignees: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, user_id: _Optional[int] = ..., pr_id: _Optional[int] = ..., pr_number: _Optional[int] = ..., title: _Optional[str] = ..., branch_name: _Optional[str] = ..., target_branch: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., assignees: _Optional[_Iterable[int]] = ...) -> None: ...

class PullRequestClosed(_message.Message):
    __slots__ = ("user_id", "merger_user_id", "pr_id", "pr_number", "close_reason", "merged", "additions", "deletions", "files_changed", "commits_count", "labels", "target_branch", "assignees")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MERGER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    PR_ID_FIELD_NUMBER: _ClassVar[int]
    PR_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CLOSE_REASON_FIELD_NUMBER: _ClassVar[int]
    MERGED_FIELD_NUMBER: _ClassVar[int]
    ADDITIONS_FIELD_NUMBER: _ClassVar[int]
    DELETIONS_FIELD_NUMBER: _ClassVar[int]
    FILES_CHANGED_FIELD_NUMBER: _ClassVar[int]
    COMMITS_COUNT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    TARGET_BRANCH_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEES_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    merger_user_id: int
    pr_id: int
    pr_number: int
    close_reason: PrCloseReason
    merged: bool
    additions: int
    deletions: int
    files_changed: int
    commits_count: int
    labels: _containers.RepeatedScalarFieldContainer[str]
    target_branch: str
    assignees: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, user_id: _Optional[int] = ..., merger_user_id: _Optional[int] = ..., pr_id: _Optional[int] = ..., pr_number: _Optional[int] = ..., close_reason: _Optional[_Union[PrCloseReason, str]] = ..., merged: _Optional[bool] = ..., additions: _Optional[int] = ..., deletions: _Optional[int] = ..., files_changed: _Optional[int] = ..., commits_count: _Optional[int] = ..., labels: _Optional[_Iterable[str]] = ..., target_branch: _Optional[str] = ..., assignees: _Optional[_Iterable[int]] = ...) -> None: ...

class PullRequestReviewSubmitted(_message.Message):
    __slots__ = ("reviewer_user_id", "pr_author_user_id", "pr_id", "pr_number", "state")
    REVIEWER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    PR_AUTHOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    PR_ID_FIELD_NUMBER: _ClassVar[int]
    PR_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    reviewer_user_id: int
    pr_author_user_id: int
    pr_id: int
    pr_number: int
    state: ReviewState
    def __init__(self, reviewer_user_id: _Optional[int] = ..., pr_author_user_id: _Optional[int] = ..., pr_id: _Optional[int] = ..., pr_number: _Optional[int] = ..., state: _Optional[_Union[ReviewState, str]] = ...) -> None: ...

class IssueOpened(_message.Message):
    __slots__ = ("user_id", "issue_id", "issue_number", "title", "labels")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    issue_id: int
    issue_number: int
    title: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_id: _Optional[int] = ..., issue_id: _Optional[int] = ..., issue_number: _Optional[int] = ..., title: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ...) -> None: ...

class IssueClosed(_message.Message):
    __slots__ = ("user_id", "issue_author_id", "issue_id", "issue_number", "close_reason", "labels", "opened_at", "comments_count", "closing_pr_number")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUE_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CLOSE_REASON_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_COUNT_FIELD_NUMBER: _ClassVar[int]
    CLOSING_PR_NUMBER_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    issue_author_id: int
    issue_id: int
    issue_number: int
    close_reason: IssueCloseReason
    labels: _containers.RepeatedScalarFieldContainer[str]
    opened_at: _timestamp_pb2.Timestamp
    comments_count: int
    closing_pr_number: int
    def __init__(self, user_id: _Optional[int] = ..., issue_author_id: _Optional[int] = ..., issue_id: _Optional[int] = ..., issue_number: _Optional[int] = ..., close_reason: _Optional[_Union[IssueCloseReason, str]] = ..., labels: _Optional[_Iterable[str]] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., comments_count: _Optional[int] = ..., closing_pr_number: _Optional[int] = ...) -> None: ...

class IssueCommented(_message.Message):
    __slots__ = ("user_id", "issue_author_id", "issue_id", "issue_number", "comment_length", "contains_code")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUE_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    COMMENT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    CONTAINS_CODE_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    issue_author_id: int
    issue_id: int
    issue_number: int
    comment_length: int
    contains_code: bool
    def __init__(self, user_id: _Optional[int] = ..., issue_author_id: _Optional[int] = ..., issue_id: _Optional[int] = ..., issue_number: _Optional[int] = ..., comment_length: _Optional[int] = ..., contains_code: _Optional[bool] = ...) -> None: ...

class CommitInfo(_message.Message):
    __slots__ = ("author_name", "commit_id", "message", "additions", "deletions", "modified")
    AUTHOR_NAME_FIELD_NUMBER: _ClassVar[int]
    COMMIT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ADDITIONS_FIELD_NUMBER: _ClassVar[int]
    DELETIONS_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_FIELD_NUMBER: _ClassVar[int]
    author_name: str
    commit_id: str
    message: str
    additions: int
    deletions: int
    modified: int
    def __init__(self, author_name: _Optional[str] = ..., commit_id: _Optional[str] = ..., message: _Optional[str] = ..., additions: _Optional[int] = ..., deletions: _Optional[int] = ..., modified: _Optional[int] = ...) -> None: ...

class Push(_message.Message):
    __slots__ = ("user_id", "branch_name", "commits_count", "commits")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    BRANCH_NAME_FIELD_NUMBER: _ClassVar[int]
    COMMITS_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMMITS_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    branch_name: str
    commits_count: int
    commits: _containers.RepeatedCompositeFieldContainer[CommitInfo]
    def __init__(self, user_id: _Optional[int] = ..., branch_name: _Optional[str] = ..., commits_count: _Optional[int] = ..., commits: _Optional[_Iterable[_Union[CommitInfo, _Mapping]]] = ...) -> None: ...

class Actor(_message.Message):
    __slots__ = ("id", "login", "avatar_url", "is_bot")
    ID_FIELD_NUMBER: _ClassVar[int]
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    AVATAR_URL_FIELD_NUMBER: _ClassVar[int]
    IS_BOT_FIELD_NUMBER: _ClassVar[int]
    id: int
    login: str
    avatar_url: str
    is_bot: bool
    def __init__(self, id: _Optional[int] = ..., login: _Optional[str] = ..., avatar_url: _Optional[str] = ..., is_bot: _Optional[bool] = ...) -> None: ...

class ContributionEvent(_message.Message):
    __slots__ = ("id", "event_name", "time", "repository_id", "repository_name", "provider", "pr_opened_payload", "pr_closed_payload", "pr_review_payload", "issue_opened_payload", "issue_closed_payload", "issue_commented_payload", "push_payload", "actor", "url")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_ID_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PR_OPENED_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PR_CLOSED_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PR_REVIEW_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ISSUE_OPENED_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ISSUE_CLOSED_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ISSUE_COMMENTED_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PUSH_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    event_name: EventName
    time: _timestamp_pb2.Timestamp
    repository_id: int
    repository_name: str
    provider: EventProvider
    pr_opened_payload: PullRequestOpened
    pr_closed_payload: PullRequestClosed
    pr_review_payload: PullRequestReviewSubmitted
    issue_opened_payload: IssueOpened
    issue_closed_payload: IssueClosed
    issue_commented_payload: IssueCommented
    push_payload: Push
    actor: Actor
    url: str
    def __init__(self, id: _Optional[str] = ..., event_name: _Optional[_Union[EventName, str]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., repository_id: _Optional[int] = ..., repository_name: _Optional[str] = ..., provider: _Optional[_Union[EventProvider, str]] = ..., pr_opened_payload: _Optional[_Union[PullRequestOpened, _Mapping]] = ..., pr_closed_payload: _Optional[_Union[PullRequestClosed, _Mapping]] = ..., pr_review_payload: _Optional[_Union[PullRequestReviewSubmitted, _Mapping]] = ..., issue_opened_payload: _Optional[_Union[IssueOpened, _Mapping]] = ..., issue_closed_payload: _Optional[_Union[IssueClosed, _Mapping]] = ..., issue_commented_payload: _Optional[_Union[IssueCommented, _Mapping]] = ..., push_payload: _Optional[_Union[Push, _Mapping]] = ..., actor: _Optional[_Union[Actor, _Mapping]] = ..., url: _Optional[str] = ...) -> None: ...
