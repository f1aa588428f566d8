from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CustomEvent(_message.Message):
    __slots__ = ["data", "type"]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    data: _struct_pb2.Value
    type: str
    def __init__(self, type: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ["group_id", "id", "idempotency_key", "if_version", "stream_name"]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    IF_VERSION_FIELD_NUMBER: _ClassVar[int]
    STREAM_NAME_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    id: str
    idempotency_key: str
    if_version: int
    stream_name: str
    def __init__(self, stream_name: _Optional[str] = ..., group_id: _Optional[str] = ..., id: _Optional[str] = ..., if_version: _Optional[int] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ["item"]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: _struct_pb2.Struct
    def __init__(self, item: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ["group_id", "id", "stream_name"]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_NAME_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    id: str
    stream_name: str
    def __init__(self, stream_name: _Optional[str] = ..., group_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ["item", "version"]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    item: _struct_pb2.Struct
    version: int
    def __init__(self, item: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class GroupInfo(_message.Message):
    __slots__ = ["group_id", "items"]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    items: int
    def __init__(self, group_id: _Optional[str] = ..., items: _Optional[int] = ...) -> None: ...

class ItemChange(_message.Message):
    __slots__ = ["item"]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: _struct_pb2.Struct
    def __init__(self, item: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ListGroupsRequest(_message.Message):
    __slots__ = ["after", "limit", "stream_name"]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STREAM_NAME_FIELD_NUMBER: _ClassVar[int]
    after: str
    limit: int
    stream_name: str
    def __init__(self, stream_name: _Optional[str] = ..., after: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListGroupsResponse(_message.Message):
    __slots__ = ["groups", "next_after"]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[GroupInfo]
    next_after: str
    def __init__(self, groups: _Optional[_Iterable[_Union[GroupInfo, _Mapping]]] = ..., next_after: _Optional[str] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ["group_id", "stream_name"]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_NAME_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    stream_name: str
    def __init__(self, stream_name: _Optional[str] = ..., group_id: _Optional[str] = ...) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ["items"]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    def __init__(self, items: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ...) -> None: ...

class ListStreamsRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListStreamsResponse(_message.Message):
    __slots__ = ["streams"]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    streams: _containers.RepeatedCompositeFieldContainer[StreamInfo]
    def __init__(self, streams: _Optional[_Iterable[_Union[StreamInfo, _Mapping]]] = ...) -> None: ...

class SchemaIssue(_message.Message):
    __slots__ = ["message", "path"]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    message: str
    path: str
    def __init__(self, path: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class SchemaViolation(_message.Message):
    __slots__ = ["issues"]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    issues: _containers.RepeatedCompositeFieldContainer[SchemaIssue]
    def __init__(self, issues: _Optional[_Iterable[_Union[SchemaIssue, _Mapping]]] = ...) -> None: ...

class SendRequest(_message.Message):
    __slots__ = ["data", "group_id", "id", "idempotency_key", "stream_name", "type"]
    DATA_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    data: _struct_pb2.Value
    group_id: str
    id: str
    idempotency_key: str
    stream_name: str
    type: str
    def __init__(self, stream_name: _Optional[str] = ..., group_id: _Optional[str] = ..., id: _Optional[str] = ..., type: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SendResponse(_message.Message):
    __slots__ = ["timestamp"]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    timestamp: int
    def __init__(self, timestamp: _Optional[int] = ...) -> None: ...

class SetRequest(_message.Message):
    __slots__ = ["data", "group_id", "id", "idempotency_key", "if_absent", "if_version", "stream_name", "ttl_seconds"]
    DATA_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    IF_ABSENT_FIELD_NUMBER: _ClassVar[int]
    IF_VERSION_FIELD_NUMBER: _ClassVar[int]
    STREAM_NAME_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    data: _struct_pb2.Struct
    group_id: str
    id: str
    idempotency_key: str
    if_absent: bool
    if_version: int
    stream_name: str
    ttl_seconds: int
    def __init__(self, stream_name: _Optional[str] = ..., group_id: _Optional[str] = ..., id: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., if_version: _Optional[int] = ..., if_absent: bool = ..., idempotency_key: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class SetResponse(_message.Message):
    __slots__ = ["created", "item", "resume_token", "timestamp", "version"]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    created: bool
    item: _struct_pb2.Struct
    resume_token: str
    timestamp: int
    version: int
    def __init__(self, item: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created: bool = ..., timestamp: _Optional[int] = ..., resume_token: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class StreamInfo(_message.Message):
    __slots__ = ["name"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ["group_id", "id", "resume_token", "stream_name"]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STREAM_NAME_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    id: str
    resume_token: str
    stream_name: str
    def __init__(self, stream_name: _Optional[str] = ..., group_id: _Optional[str] = ..., id: _Optional[str] = ..., resume_token: _Optional[str] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ["conflated", "create", "custom", "delete", "group_id", "id", "resume_token", "sequence", "stream_name", "sync", "timestamp", "update"]
    CONFLATED_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STREAM_NAME_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    conflated: int
    create: ItemChange
    custom: CustomEvent
    delete: ItemChange
    group_id: str
    id: str
    resume_token: str
    sequence: int
    stream_name: str
    sync: Sync
    timestamp: int
    update: ItemChange
    def __init__(self, stream_name: _Optional[str] = ..., group_id: _Optional[str] = ..., id: _Optional[str] = ..., timestamp: _Optional[int] = ..., resume_token: _Optional[str] = ..., sequence: _Optional[int] = ..., conflated: _Optional[int] = ..., sync: _Optional[_Union[Sync, _Mapping]] = ..., create: _Optional[_Union[ItemChange, _Mapping]] = ..., update: _Optional[_Union[ItemChange, _Mapping]] = ..., delete: _Optional[_Union[ItemChange, _Mapping]] = ..., custom: _Optional[_Union[CustomEvent, _Mapping]] = ...) -> None: ...

class Sync(_message.Message):
    __slots__ = ["items", "reset", "versions"]
    class VersionsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    reset: bool
    versions: _containers.ScalarMap[str, int]
    def __init__(self, items: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., reset: bool = ..., versions: _Optional[_Mapping[str, int]] = ...) -> None: ...
