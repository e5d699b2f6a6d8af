from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ApplianceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLIANCE_STATE_UNSPECIFIED: _ClassVar[ApplianceState]
    APPLIANCE_STATE_ACTIVE: _ClassVar[ApplianceState]
    APPLIANCE_STATE_DRAINING: _ClassVar[ApplianceState]
    APPLIANCE_STATE_DRAINED: _ClassVar[ApplianceState]

class Health(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEALTH_UNSPECIFIED: _ClassVar[Health]
    HEALTH_HEALTHY: _ClassVar[Health]
    HEALTH_DEGRADED: _ClassVar[Health]
    HEALTH_DOWN: _ClassVar[Health]
    HEALTH_DRAINING: _ClassVar[Health]
APPLIANCE_STATE_UNSPECIFIED: ApplianceState
APPLIANCE_STATE_ACTIVE: ApplianceState
APPLIANCE_STATE_DRAINING: ApplianceState
APPLIANCE_STATE_DRAINED: ApplianceState
HEALTH_UNSPECIFIED: Health
HEALTH_HEALTHY: Health
HEALTH_DEGRADED: Health
HEALTH_DOWN: Health
HEALTH_DRAINING: Health

class Location(_message.Message):
    __slots__ = ("latitude", "longitude")
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    latitude: float
    longitude: float
    def __init__(self, latitude: _Optional[float] = ..., longitude: _Optional[float] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("appliance_id", "site", "http_url", "capacity_bytes", "client_prefixes", "location", "secret")
    APPLIANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    HTTP_URL_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_PREFIXES_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    appliance_id: str
    site: str
    http_url: str
    capacity_bytes: int
    client_prefixes: _containers.RepeatedScalarFieldContainer[str]
    location: Location
    secret: str
    def __init__(self, appliance_id: _Optional[str] = ..., site: _Optional[str] = ..., http_url: _Optional[str] = ..., capacity_bytes: _Optional[int] = ..., client_prefixes: _Optional[_Iterable[str]] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("heartbeat_interval_ms", "down_after_ms")
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    DOWN_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_ms: int
    down_after_ms: int
    def __init__(self, heartbeat_interval_ms: _Optional[int] = ..., down_after_ms: _Optional[int] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("appliance_id", "secret", "state", "healthy", "disk_used_bytes", "disk_capacity_bytes", "egress_bytes_per_second", "connections", "error_ratio", "titles", "hits", "misses", "fill_version", "fill_bytes_done", "fill_bytes_total")
    APPLIANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    DISK_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    EGRESS_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATIO_FIELD_NUMBER: _ClassVar[int]
    TITLES_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    FILL_VERSION_FIELD_NUMBER: _ClassVar[int]
    FILL_BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    FILL_BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    appliance_id: str
    secret: str
    state: ApplianceState
    healthy: bool
    disk_used_bytes: int
    disk_capacity_bytes: int
    egress_bytes_per_second: int
    connections: int
    error_ratio: float
    titles: _containers.RepeatedScalarFieldContainer[str]
    hits: int
    misses: int
    fill_version: int
    fill_bytes_done: int
    fill_bytes_total: int
    def __init__(self, appliance_id: _Optional[str] = ..., secret: _Optional[str] = ..., state: _Optional[_Union[ApplianceState, str]] = ..., healthy: _Optional[bool] = ..., disk_used_bytes: _Optional[int] = ..., disk_capacity_bytes: _Optional[int] = ..., egress_bytes_per_second: _Optional[int] = ..., connections: _Optional[int] = ..., error_ratio: _Optional[float] = ..., titles: _Optional[_Iterable[str]] = ..., hits: _Optional[int] = ..., misses: _Optional[int] = ..., fill_version: _Optional[int] = ..., fill_bytes_done: _Optional[int] = ..., fill_bytes_total: _Optional[int] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("reregister", "fill_version")
    REREGISTER_FIELD_NUMBER: _ClassVar[int]
    FILL_VERSION_FIELD_NUMBER: _ClassVar[int]
    reregister: bool
    fill_version: int
    def __init__(self, reregister: _Optional[bool] = ..., fill_version: _Optional[int] = ...) -> None: ...

class FillManifestRequest(_message.Message):
    __slots__ = ("appliance_id", "secret", "known_version")
    APPLIANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    KNOWN_VERSION_FIELD_NUMBER: _ClassVar[int]
    appliance_id: str
    secret: str
    known_version: int
    def __init__(self, appliance_id: _Optional[str] = ..., secret: _Optional[str] = ..., known_version: _Optional[int] = ...) -> None: ...

class FillEntry(_message.Message):
    __slots__ = ("title", "priority", "bytes")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    title: str
    priority: int
    bytes: int
    def __init__(self, title: _Optional[str] = ..., priority: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class FillWindow(_message.Message):
    __slots__ = ("start", "end", "tz", "rate_bits_per_second", "run_now_until")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TZ_FIELD_NUMBER: _ClassVar[int]
    RATE_BITS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    RUN_NOW_UNTIL_FIELD_NUMBER: _ClassVar[int]
    start: str
    end: str
    tz: str
    rate_bits_per_second: int
    run_now_until: int
    def __init__(self, start: _Optional[str] = ..., end: _Optional[str] = ..., tz: _Optional[str] = ..., rate_bits_per_second: _Optional[int] = ..., run_now_until: _Optional[int] = ...) -> None: ...

class FillManifest(_message.Message):
    __slots__ = ("version", "entries", "window", "origin_url")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_URL_FIELD_NUMBER: _ClassVar[int]
    version: int
    entries: _containers.RepeatedCompositeFieldContainer[FillEntry]
    window: FillWindow
    origin_url: str
    def __init__(self, version: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[FillEntry, _Mapping]]] = ..., window: _Optional[_Union[FillWindow, _Mapping]] = ..., origin_url: _Optional[str] = ...) -> None: ...

class WatchFleetRequest(_message.Message):
    __slots__ = ("watcher",)
    WATCHER_FIELD_NUMBER: _ClassVar[int]
    watcher: str
    def __init__(self, watcher: _Optional[str] = ...) -> None: ...

class ApplianceStatus(_message.Message):
    __slots__ = ("appliance_id", "site", "http_url", "capacity_bytes", "client_prefixes", "location", "health", "disk_used_bytes", "egress_bytes_per_second", "connections", "titles", "last_heartbeat_unix_ms")
    APPLIANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    HTTP_URL_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_PREFIXES_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    DISK_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    EGRESS_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    TITLES_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    appliance_id: str
    site: str
    http_url: str
    capacity_bytes: int
    client_prefixes: _containers.RepeatedScalarFieldContainer[str]
    location: Location
    health: Health
    disk_used_bytes: int
    egress_bytes_per_second: int
    connections: int
    titles: _containers.RepeatedScalarFieldContainer[str]
    last_heartbeat_unix_ms: int
    def __init__(self, appliance_id: _Optional[str] = ..., site: _Optional[str] = ..., http_url: _Optional[str] = ..., capacity_bytes: _Optional[int] = ..., client_prefixes: _Optional[_Iterable[str]] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., health: _Optional[_Union[Health, str]] = ..., disk_used_bytes: _Optional[int] = ..., egress_bytes_per_second: _Optional[int] = ..., connections: _Optional[int] = ..., titles: _Optional[_Iterable[str]] = ..., last_heartbeat_unix_ms: _Optional[int] = ...) -> None: ...

class FleetState(_message.Message):
    __slots__ = ("version", "appliances", "generated_unix_ms")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    APPLIANCES_FIELD_NUMBER: _ClassVar[int]
    GENERATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    version: int
    appliances: _containers.RepeatedCompositeFieldContainer[ApplianceStatus]
    generated_unix_ms: int
    def __init__(self, version: _Optional[int] = ..., appliances: _Optional[_Iterable[_Union[ApplianceStatus, _Mapping]]] = ..., generated_unix_ms: _Optional[int] = ...) -> None: ...
