"""A fake Onedata Oneprovider: the space metadata changes stream and the REST calls sluice's
onedata connector makes (PROTOCOLS.md §2, COMPAT.md §1.4 and §1.10), in one in-process HTTP
server, as strict as op-worker where sluice can get it wrong.

    with FakeOnedata(tokens={"tok"}) as fake:
        fake.mkdir("in"); fid = fake.create_file("in/a.dat", b"abc"); fake.write("in/a.dat", b"d")
        c = fake.client()
        s = c.changes({"fileMeta": {"fields": ["name", "type", "deleted"], "always": True}},
                      last_seq=0, timeout=200)   # ms of inactivity, then the stream ends
        for change in s.changes(): ...           # {"fileId", "filePath", "seq", "fileMeta": {...}}
        c.children(fake.space_id, limit=2).json()  # {"children", "isLast", "nextPageToken"}
        fake.cut_streams(partial="line"); fake.fail_next(1, 503); fake.line_end = b"\\n"

Faithful (read in onedata/op-worker develop 0a5b819 of 2024-12 and onedata/ctool: the
handler `changes_stream_handler.erl`, `rest_handler.erl`, `file_middleware_get_handler.erl`,
`file_rest_translator.erl`, `file_content_download_utils.erl`, ctool `errors.erl`,
`onedata_file.erl`, `http_parser.erl`, `tokens.erl`, and the legacy `cdmi_id.erl`):
- `POST {API}/changes/metadata/{space_id}?timeout=<ms|infinity>&last_seq=<int|now>` only;
  other methods 405 with `allow: POST` and no body (cowboy_rest), checked before auth. Then
  auth: the token from `X-Auth-Token`, else `Authorization: Bearer`, else `Macaroon`; none →
  401 unauthorized; an unknown token → 401 unauthorized/authError badToken; a token with a
  data-access caveat → 401 unauthorized/authError tokenCaveatUnverified; no
  `space_view_changes_stream` privilege (or a space this user cannot see) → 403 forbidden.
  Then `Content-Type` must be application/json (parameters allowed): else 415, no body.
  Then `timeout`/`last_seq` (last value of a repeated key wins): not an integer → 400
  badValueInteger. Then the body: not JSON → 500 with an empty body (the handler's catch-all:
  `json_utils:decode` raises, it does not throw); not an object → badValueJSON
  changesSpecification; `triggers` not a list → badValueListOfStrings, an unknown trigger →
  badValueNotAllowed triggers; a key other than the four records and `triggers`, or a record
  whose spec is not an object → badData <key>; `fields` not a list → badValueListOfStrings
  <rec>.fields; an unknown field → badValueNotAllowed <rec>.fields with the allowed list;
  `always` not a boolean → badValueBoolean <rec>.always; no record at all → badValueEmpty
  changesSpecification. Errors are `{"error": {"id", "description"[, "details"]}}`.
- The stream: 200, `content-type: application/json`, chunked, headers sent at once
  (cowboy stream_reply), one chunk per change holding `<json>\\r\\n`, keys sorted and no
  spaces (jiffy), raw UTF-8; no heartbeat bytes ever; ends with the final empty chunk when
  `timeout` ms pass without a batch of observed documents (the timer restarts after each
  batch), or when the fake ends it (`end_streams`, couchbase stream end/error); after that
  final chunk the connection stays open for the next request (HTTP/1.1 keep-alive). A client
  that hangs up ends its stream at once (cowboy's terminate), so open_streams() counts live
  readers only.
- The feed is couchbase's: every document (file_meta, times, file_location, custom_metadata
  of each file) sits at the seq of its latest save only, so a document saved several times
  before a stream reads it appears once, with its latest values; `last_seq` is inclusive (the
  range [since, ∞)); `now` = only future changes. Each document change is one line:
  `{"fileId": <CDMI ObjectID>, "filePath": "/<space name>/...", "seq": <int>, <record>: {"rev",
  "mutators", "changed", "deleted", "fields"[, "exists"]}}` with one key per requested record
  that is the changed document (`changed: true`) or is requested with `always` (read at send
  time, `changed: false`). Only documents of a record named in `triggers` (default all four)
  are observed. A line whose `always` document is missing or deleted (a directory has no
  file_location; the file is gone) is skipped, as the handler's badmatch is caught and
  logged; a line with no requested record is not sent. `filePath` is "" once the file is
  gone. The space directory's `name` field is the space name.
- ObjectIDs are op-worker's: hex of `00 000000 00 <len> <crc16/ARC> "guid#<uuid>#<space>"`,
  checked against a real capture; the space directory's uuid is `space_<space id>`.
- `GET {API}/data/{id}/children` (`limit` 1..10000, default 1000; `token`; `index`,
  `offset` -500..500, `inclusive`; `attributes` current names, repeatable; `attribute`
  deprecated names; query merged over a JSON body): `{"children": [...], "isLast": bool,
  "nextPageToken": str}`; `isLast` is true only when a page is shorter than `limit` (a full
  last page is followed by an empty one); the token is always a string; children sorted
  case-insensitively as op-worker's `filename_to_sorting_key` does; default attributes
  `fileId`+`file_id`+`name`. `GET {API}/data/{id}` → attributes (default: the deprecated
  set, under both current and deprecated names: fileId/file_id, parentFileId/parent_id,
  posixPermissions/mode "664", type "REG"/"DIR", size, atime/mtime/ctime integer seconds, …).
  `{id}` may be the space id (the space directory). A malformed id → 400 badValueIdentifier id;
  an id of no existing file → 400 posix enoent; children of a file → 400 posix enotdir.
- `POST {API}/lookup-file-id/<space name>/<path>` → `{"fileId": <ObjectID>}`.
- `GET {API}/data/{id}/content` → the bytes, `content-disposition: attachment;
  filename="<name>"`, content type from the name (cow_mimetypes, default
  application/octet-stream), `Range` as op-worker parses it (`a-b`, `a-`, `-n`, several →
  multipart/byteranges), 416 with `content-range: bytes */<size>`; a directory → a tarball.
- `GET {API}/spaces` → `[{"name", "spaceId", "fileId", "dirId", "providers"}]`.
- With `legacy_path_api=True`, the 18.02/19.02 path API that OneTrigger polls (COMPAT.md
  §1.4; op-worker `files.erl`/`attributes.erl` as of 2019-06): `GET {API}/files/<space>/<path>`
  → `[{"id", "path"}]` (a file lists itself; `offset`, `limit` 1..999; no `limit` and more
  than 1000 entries → 400 too_many_entries), `GET {API}/attributes/<space>/<path>` → `{"mode":
  "0664", "size", "atime", "ctime", "mtime", "storage_group_id", "storage_user_id", "name",
  "owner_id", "shares", "type": "reg"|"dir", "file_id"}`; errors in that era's shape
  `{"error": "<code>", "error_description"}` (404 not_found, 401 unauthorized). Without it
  these paths are 404, as on a current Oneprovider.

Simplified: one space, one provider, one user; the data API needs only a valid token
(no per-file permissions, ACLs or shares); no dbsync from other providers (`mutators` is
always this provider); the 2025 parser's `startAtSeq` alias, body/query merge on the
changes endpoint and `always`-less change detection are not modelled (this is the 2024
handler); pagination tokens and listing indexes are opaque base64 of the fake's own state,
not op-worker's Erlang terms; attributes outside the deprecated set plus `path` and
`creationTime` are refused as not allowed; no CDMI, no `/data/{id}/path/...`, no writes over
REST (tests drive the space through the Python API); a directory tarball ignores Range.
Guessed [guess]: file uuids (32 hex; op-worker's differ); `last_seq=now` is the next seq to
be assigned; the order of document saves inside one operation (create: file_meta, times,
file_location, then the parent's times; write: file_location then times; delete: file_location,
times, custom_metadata deleted, then file_meta with `fields.deleted` true and the document
deleted; rename: file_meta, then both parents' times); a directory's `size` is null; an
unknown token is badToken (a revoked or expired one would name its caveat); a negative
`timeout` crashes the handler after the headers (Erlang `after -1`), which here is a reset;
the legacy API's listing order (by name, as today) and a legacy directory's `size` (0).
Time: `clock` (any callable, e.g. fake_sqs.ManualClock) gives the atime/mtime/ctime seconds.
"""
import base64
import bisect
import hashlib
import http.client
import io
import json
import mimetypes
import select
import socket
import struct
import tarfile
import threading
import time
import unicodedata
import uuid
from urllib.parse import parse_qsl, quote, unquote, urlencode

from loopback_server import LoopbackHandler, LoopbackServer, RecordedRequest, read_chunked

API = "/api/v3/oneprovider"
OBSERVABLE = ("fileMeta", "fileLocation", "times", "customMetadata")
DOC_KIND = {"fileMeta": "file_meta", "fileLocation": "file_location", "times": "times",
            "customMetadata": "custom_metadata"}
FIELDS = {"fileMeta": ("name", "type", "mode", "owner", "provider_id", "shares", "deleted"),
          "fileLocation": ("provider_id", "storage_id", "size", "space_id",
                           "storage_file_created"),
          "times": ("atime", "mtime", "ctime")}
SPECIAL_XATTRS = ("onedata_json", "onedata_rdf")
DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_LIST_OFFSET = 1000, 10000, 500
# attribute: (current JSON name, deprecated JSON name or None), in DEPRECATED_ALL_FILE_ATTRS
# order; `path` and `creation_time` exist in the current generation only.
ATTRS = {"guid": ("fileId", "file_id"), "parent_guid": ("parentFileId", "parent_id"),
         "name": ("name", "name"), "mode": ("posixPermissions", "mode"),
         "atime": ("atime", "atime"), "mtime": ("mtime", "mtime"), "ctime": ("ctime", "ctime"),
         "type": ("type", "type"), "size": ("size", "size"), "shares": ("directShareIds", "shares"),
         "index": ("index", "index"), "uid": ("displayUid", "storage_user_id"),
         "gid": ("displayGid", "storage_group_id"), "owner_id": ("ownerUserId", "owner_id"),
         "provider_id": ("originProviderId", "provider_id"),
         "hardlink_count": ("hardlinkCount", "hardlinks_count"),
         "path": ("path", None), "creation_time": ("creationTime", None)}
DEPRECATED_ALL = [a for a in ATTRS if a not in ("path", "creation_time")]


# -- errors (ctool errors:to_json/1 and to_http_code/1) ---------------------------------------
class OnedataError(Exception):
    """An answer in Onedata's error shape; `error` None means an empty body (cowboy's own)."""

    def __init__(self, status, error=None, headers=None, legacy=None):
        super().__init__(status, error or legacy)
        self.status, self.error, self.headers, self.legacy = status, error, headers or {}, legacy

    @property
    def id(self):
        if self.legacy:
            return self.legacy["error"]
        return self.error["id"] if self.error else None

    def body(self):
        if self.legacy:
            return self.legacy
        return None if self.error is None else {"error": self.error}


def legacy_error(status, code, description):
    """The 18.02/19.02 REST error shape (rest_errors.hrl ERROR_REPLY)."""
    return OnedataError(status, legacy={"error": code, "error_description": description})


def _err(status, eid, description, details=None):
    error = {"id": eid, "description": description}
    if details is not None:
        error["details"] = details
    return OnedataError(status, error)


def unauthorized(auth_error=None):
    if auth_error is None:
        return _err(401, "unauthorized", "You must authenticate yourself to perform this "
                    "operation.")
    return _err(401, "unauthorized", "Provided authentication is not valid (see details).",
                {"authError": auth_error.error})


def bad_token():
    return _err(400, "badToken", "Provided token could not be understood by the server.")


def data_caveat_unverified():
    return _err(400, "tokenCaveatUnverified", "Provided token is not valid - unverified data "
                "access caveat: this token allows for readonly data access.",
                {"caveat": {"type": "data.readonly"}})


def forbidden():
    return _err(403, "forbidden", "You are not authorized to perform this operation.")


def bad_value(eid, key, what, **details):
    return _err(400, eid, f'Bad value: provided "{key}" {what}.', {"key": key, **details})


def bad_value_integer(key):
    return bad_value("badValueInteger", key, "must be an integer")


def bad_value_boolean(key):
    return bad_value("badValueBoolean", key, "must be a boolean")


def bad_value_json(key):
    return bad_value("badValueJSON", key, "must be a valid JSON")


def bad_value_empty(key):
    return bad_value("badValueEmpty", key, "must not be empty")


def bad_value_list_of_strings(key):
    return bad_value("badValueListOfStrings", key, "must be a list of strings")


def bad_value_not_allowed(key, allowed):
    return bad_value("badValueNotAllowed", key, "must be one of: " + ", ".join(
        str(a) for a in allowed), allowed=list(allowed))


def bad_value_not_in_range(key, low, high):
    return bad_value("badValueNotInRange", key, f"must be between <{low}, {high}>",
                     low=low, high=high)


def bad_data(key):
    return _err(400, "badData", f'Bad value: provided "{key}" has an invalid format or is '
                "incomprehensible in the context of this operation.", {"key": key})


def bad_value_identifier(key):
    return _err(400, "badValueIdentifier", f'Bad value: provided "{key}" is not a valid '
                "identifier.", {"key": key})


def posix(errno):
    return _err(400, "posix", f"Operation failed with POSIX error: {errno}.", {"errno": errno})


def malformed_data():
    return _err(400, "malformedData", "Provided data could not be understood by the server.")


def space_not_supported(space_id, provider_id):
    return _err(400, "spaceNotSupportedBy", f"Specified space: {space_id} is not supported by "
                f"provider {provider_id}.", {"spaceId": space_id, "providerId": provider_id})


def fault_error(status):
    if status == 503:
        return _err(503, "serviceUnavailable", "Service required for this operation is offline.")
    if status == 500:
        return _err(500, "internalServerError", "The server has encountered an error while "
                    "processing this request.")
    return _err(status, "temporaryFailure", "Temporary failure - please try again later.")


# -- ids -------------------------------------------------------------------------------------------
def crc16(data):
    """CRC-16/ARC, as op-worker's cdmi_id:crc16 (its table is the reflected 0xA001 one)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def object_id(file_uuid, space_id):
    """The CDMI ObjectID op-worker puts in `fileId` (file_id:guid_to_objectid)."""
    data = b"guid#" + file_uuid.encode() + b"#" + space_id.encode()
    head = bytes([0, 0, 0, 0, 0, len(data)])
    return (head + struct.pack(">H", crc16(head + b"\0\0" + data)) + data).hex().upper()


def parse_object_id(oid):
    """(uuid, space_id), or None for anything objectid_to_guid/unpack_guid would refuse.
    Like op-worker, the CRC is not checked."""
    try:
        raw = bytes.fromhex(oid)
    except ValueError:
        return None
    if len(raw) < 8 or raw[0] != 0 or raw[4] != 0:
        return None
    parts = raw[8:].split(b"#")
    if len(parts) < 3 or parts[0] != b"guid":
        return None
    try:
        return parts[1].decode(), parts[2].decode()
    except UnicodeDecodeError:
        return None


def sorting_key(name):
    """onedata_file:filename_to_sorting_key: case-folded, diacritics removed, then the name."""
    folded = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in folded if not unicodedata.combining(c)) + "\x01" + name


def _b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _unb64(text):
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def jiffy(obj):
    """JSON as op-worker's json_utils:encode writes it: no spaces, map keys sorted, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# -- state -----------------------------------------------------------------------------------------
class Recorded(RecordedRequest):
    """One request as received (loopback_server.RecordedRequest); op 'changes', 'children',
    'attrs', 'content', 'lookup', 'spaces' or None; verdict 'ok' or the error id."""


class Doc:
    """One datastore document of one file: its latest save only, as couchbase keeps it."""

    def __init__(self, kind, uuid_):
        self.kind, self.uuid = kind, uuid_
        self.seq, self.revn, self.rev, self.deleted, self.value = 0, 0, None, False, {}


class Node:
    """A file or directory of the space tree."""

    def __init__(self, uuid_, name, parent, type_, now, owner):
        self.uuid, self.name, self.parent, self.type = uuid_, name, parent, type_
        self.children = {} if type_ == "DIR" else None
        self.data = bytearray()
        self.mode = 0o775 if type_ == "DIR" else 0o664
        self.owner = owner
        self.atime = self.mtime = self.ctime = self.creation_time = now
        self.storage_file_created = False
        self.xattrs = {}


class _Spec:
    """A parsed changes specification (one record's request)."""

    def __init__(self, record, always, fields, exists):
        self.record, self.kind = record, DOC_KIND[record]
        self.always, self.fields, self.exists = always, fields, exists


class _Stream:
    def __init__(self, specs, triggers, cursor, timeout, rec):
        self.specs, self.triggers, self.cursor, self.timeout = specs, triggers, cursor, timeout
        self.rec = rec
        self.raw = []           # injected bytes, sent before the next lines
        self.cut = None         # None, or the partial mode of cut_streams
        self.end = False
        self.sent = 0           # lines sent


# -- the server ----------------------------------------------------------------------------------
class FakeOnedata(LoopbackServer):
    def __init__(self, tokens=None, space_name="space1", space_id=None,
                 provider_id="p1.fake-onedata.test", user_id="user1", storage_id="storage1",
                 clock=time.time, host="127.0.0.1", port=0, legacy_path_api=False):
        """`tokens`: token strings (each may read the changes stream), or {token: {"changes":
        bool, "data_caveat": bool}}; default {"fake-token"}. `legacy_path_api`: also serve
        the 18.02/19.02 `GET /files/{path}` and `/attributes/{path}` that OneTrigger polls
        (gone from current Oneprovider: 404 without it)."""
        self.tokens = {}
        for tok in (tokens or ["fake-token"]):
            opts = tokens[tok] if isinstance(tokens, dict) else {}
            self.add_token(tok, **opts)
        self.space_name, self.space_id = space_name, space_id or uuid.uuid4().hex
        self.provider_id, self.user_id, self.storage_id = provider_id, user_id, storage_id
        self.clock, self.host, self._want_port, self.port = clock, host, port, None
        self.legacy_path_api = legacy_path_api
        self.requests = []
        self.line_end = b"\r\n"    # set b"\n" to drop the \r (parser robustness tests)
        self.chunking = "line"     # "line" (op-worker), "split" (cut each line in two
        #                            chunks) or "batch" (one chunk per batch of lines)
        self.touch_parents = True  # a child's create/delete/rename saves the parent's times
        self.skipped_lines = 0     # lines dropped because an `always` document was missing
        self._cond = threading.Condition(threading.RLock())
        self._seq = 0
        self._docs = {}            # (kind, uuid) → Doc
        self._feed = {}            # seq → Doc (the latest save of each document)
        self._seqs = []            # every seq ever assigned, ascending (with stale ones)
        self._nodes = {}           # uuid → Node (live files only)
        self._streams = []
        self._held = False
        self._faults = []
        self._init_loopback()
        now = int(clock())
        self.root = Node("space_" + self.space_id, space_name, None, "DIR", now, user_id)
        self._nodes[self.root.uuid] = self.root
        with self._cond:
            self._save(self.root, "file_meta")
            self._save(self.root, "times")

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        return self._serve_on(_Handler)

    @property
    def token(self):
        """A token that may read the changes stream (for client())."""
        return next((t for t, o in self.tokens.items() if o["changes"] and not o["data_caveat"]),
                    next(iter(self.tokens), None))

    # -- clients and inspection --------------------------------------------------------------
    def client(self, token=..., **kw):
        """A client sending `token` (default: one allowed on the changes stream; None: no
        token at all)."""
        return OnedataClient(self.url, self.token if token is ... else token,
                             self.space_id, **kw)

    def open_streams(self):
        with self._cond:
            return len(self._streams)

    def wait_streams(self, n, timeout=5.0):
        """Until `n` changes streams are open (registered after their headers went out)."""
        if not self.wait_until(lambda: len(self._streams) == n, timeout):
            raise AssertionError(f"{self.open_streams()} changes streams open, wanted {n}")

    def current_seq(self):
        """The seq of the latest document save (0 before any)."""
        with self._cond:
            return self._seq

    def file_id(self, path):
        """The ObjectID of `path` (relative to the space, or "/<space name>/..."), else None."""
        with self._cond:
            node = self._lookup(path)
            return object_id(node.uuid, self.space_id) if node else None

    @property
    def space_dir_id(self):
        return object_id(self.root.uuid, self.space_id)

    def path_of(self, file_id):
        with self._cond:
            parsed = parse_object_id(file_id)
            node = self._nodes.get(parsed[0]) if parsed else None
            return self._path(node) if node else None

    def content(self, path):
        with self._cond:
            return bytes(self._need(path).data)

    # -- tokens --------------------------------------------------------------------------------
    def add_token(self, token, changes=True, data_caveat=False):
        """`changes`: the user holds space_view_changes_stream; `data_caveat`: the token has a
        data-access caveat (accepted by the data API, refused by the changes stream)."""
        self.tokens[token] = {"changes": changes, "data_caveat": data_caveat}

    def revoke_token(self, token):
        self.tokens.pop(token, None)

    # -- the space (test driver) ---------------------------------------------------------------
    def mkdir(self, path, parents=False):
        """Creates a directory: saves its file_meta and times, then the parent's times."""
        with self._cond:
            parent, name = self._parent_of(path, parents)
            node = self._new(parent, name, "DIR")
            return object_id(node.uuid, self.space_id)

    def create_file(self, path, data=b"", parents=False):
        """Creates a regular file (file_meta, times, file_location of size 0, the parent's
        times), then writes `data` if any. Returns its ObjectID."""
        with self._cond:
            parent, name = self._parent_of(path, parents)
            node = self._new(parent, name, "REG", touch=False)
            self._save(node, "file_location")
            self._touch_parent(parent)
            if data:
                self._write(node, data, 0)
            return object_id(node.uuid, self.space_id)

    def write(self, path, data, offset=None):
        """Writes at `offset` (default: the end): saves file_location (size) and times (mtime,
        ctime). Onedata has no close-write signal; each write is just more saves."""
        with self._cond:
            node = self._need(path, "REG")
            self._write(node, data, len(node.data) if offset is None else offset)

    def truncate(self, path, size=0):
        with self._cond:
            node = self._need(path, "REG")
            del node.data[size:]
            node.data.extend(b"\0" * (size - len(node.data)))
            node.mtime = node.ctime = int(self.clock())
            self._save(node, "file_location")
            self._save(node, "times")

    def touch(self, path, mtime=None, atime=None):
        """Saves only the times document."""
        with self._cond:
            node = self._need(path)
            now = int(self.clock())
            node.mtime = now if mtime is None else int(mtime)
            node.atime = node.atime if atime is None else int(atime)
            node.ctime = now
            self._save(node, "times")

    def set_xattr(self, path, key, value):
        """Saves the custom_metadata document (onedata_json / onedata_rdf or any xattr)."""
        with self._cond:
            node = self._need(path)
            node.xattrs[key] = value
            self._save(node, "custom_metadata")

    def chmod(self, path, mode):
        with self._cond:
            node = self._need(path)
            node.mode = mode
            self._save(node, "file_meta")

    def rename(self, src, dst):
        """Moves/renames: saves the file's file_meta (name, parent), then both parents' times.
        The file id does not change."""
        with self._cond:
            node = self._need(src)
            parent, name = self._parent_of(dst, False)
            if node is self.root or self._is_under(parent, node):
                raise ValueError("cannot move a directory into itself")
            old = node.parent
            del old.children[node.name]
            node.name, node.parent = name, parent
            parent.children[name] = node
            node.ctime = int(self.clock())
            self._save(node, "file_meta")
            self._touch_parent(old)
            if parent is not old:
                self._touch_parent(parent)

    def delete(self, path):
        """Deletes a file or an empty directory: file_location, times and custom_metadata
        documents deleted, then file_meta saved with `deleted: true` and deleted itself, then
        the parent's times."""
        with self._cond:
            node = self._need(path)
            if node is self.root:
                raise ValueError("cannot delete the space directory")
            if node.children:
                raise OSError(39, "directory not empty", path)
            del node.parent.children[node.name]
            del self._nodes[node.uuid]
            for kind in ("file_location", "times", "custom_metadata"):
                if (kind, node.uuid) in self._docs:
                    self._save(node, kind, deleted=True)
            self._save(node, "file_meta", deleted=True)
            self._touch_parent(node.parent)
            return object_id(node.uuid, self.space_id)

    # -- test hooks ---------------------------------------------------------------------------
    def fail_next(self, n, status=503, op=None, error=None):
        """The next `n` requests (of `op`: 'changes', 'children', 'attrs', 'content',
        'lookup', 'spaces'; or any) get `status` with an Onedata error body (503
        serviceUnavailable, 500 internalServerError, else temporaryFailure), or `error` (an
        OnedataError) as is."""
        self._add_fault("fail", n, status=status, op=op, error=error)

    def delay_next(self, n, seconds, op=None):
        """The next `n` requests (of `op`, or any) wait `seconds` before they are handled."""
        self._add_fault("delay", n, seconds=seconds, op=op)

    def hold_streams(self):
        """Open streams read nothing until release_streams(): saves made meanwhile coalesce
        as they do in couchbase when the reader lags."""
        with self._cond:
            self._held = True

    def release_streams(self):
        with self._cond:
            self._held = False
            self._cond.notify_all()

    def cut_streams(self, partial=None, timeout=5.0):
        """Resets (RST) every open changes stream, without the final chunk; returns once they
        are gone. partial="line": first sends a chunk holding the first half of the next line
        (of the pending ones, else of a made-up one); partial="chunk": sends a chunk header
        announcing that line whole, then only its first half."""
        assert partial in (None, "line", "chunk")
        with self._cond:
            for st in self._streams:
                st.cut = partial or "plain"
            self._cond.notify_all()
        if not self.wait_until(lambda: not self._streams, timeout):
            raise AssertionError("changes streams did not close")

    def end_streams(self, timeout=5.0):
        """Ends every open stream cleanly (final empty chunk), as when the couchbase stream
        ends or fails; the changes not yet sent are not sent."""
        with self._cond:
            for st in self._streams:
                st.end = True
            self._cond.notify_all()
        if not self.wait_until(lambda: not self._streams, timeout):
            raise AssertionError("changes streams did not end")

    def inject_raw(self, data):
        """Sends `data` (bytes, in its own chunk) on every open stream before its next lines,
        e.g. b'{"fileId": oops\\r\\n' or b'\\r\\n'. Returns the number of streams."""
        with self._cond:
            for st in self._streams:
                st.raw.append(data)
            self._cond.notify_all()
            return len(self._streams)

    # -- tree internals (under the lock) -------------------------------------------------------
    def _split(self, path):
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if path.startswith("/"):
            if not parts or parts[0] != self.space_name:
                raise ValueError(f"{path!r} is not in space {self.space_name!r}")
            parts = parts[1:]
        return parts

    def _lookup(self, path):
        node = self.root
        for part in self._split(path):
            if part == "..":
                node = node.parent or node
                continue
            if node.children is None or part not in node.children:
                return None
            node = node.children[part]
        return node

    def _need(self, path, type_=None):
        node = self._lookup(path)
        if node is None:
            raise FileNotFoundError(path)
        if type_ and node.type != type_:
            raise IsADirectoryError(path) if type_ == "REG" else NotADirectoryError(path)
        return node

    def _parent_of(self, path, parents):
        parts = self._split(path)
        if not parts:
            raise ValueError("no file name")
        name = parts[-1]
        if name == ".." or "\0" in name or len(name.encode()) > 255:
            raise ValueError(f"invalid file name {name!r}")
        node = self.root
        for part in parts[:-1]:
            child = node.children.get(part)
            if child is None and parents:
                child = self._new(node, part, "DIR")
            if child is None:
                raise FileNotFoundError("/".join(parts[:-1]))
            if child.children is None:
                raise NotADirectoryError(part)
            node = child
        if name in node.children:
            raise FileExistsError(path)
        return node, name

    def _is_under(self, node, ancestor):
        while node is not None:
            if node is ancestor:
                return True
            node = node.parent
        return False

    def _new(self, parent, name, type_, touch=True):
        node = Node(uuid.uuid4().hex, name, parent, type_, int(self.clock()), self.user_id)
        parent.children[name] = node
        self._nodes[node.uuid] = node
        self._save(node, "file_meta")
        self._save(node, "times")
        if touch:
            self._touch_parent(parent)
        return node

    def _write(self, node, data, offset):
        end = offset + len(data)
        if end > len(node.data):
            node.data.extend(b"\0" * (end - len(node.data)))
        node.data[offset:end] = data
        node.storage_file_created = True
        node.mtime = node.ctime = int(self.clock())
        self._save(node, "file_location")
        self._save(node, "times")

    def _touch_parent(self, parent):
        if self.touch_parents and parent is not None and parent.uuid in self._nodes:
            parent.mtime = parent.ctime = int(self.clock())
            self._save(parent, "times")

    def _path(self, node):
        names = []
        while node is not None:
            names.append(node.name)
            node = node.parent
        return "/" + "/".join(reversed(names))

    def _save(self, node, kind, deleted=False):
        """One datastore save: the document gets the next seq and leaves its old one."""
        key = (kind, node.uuid)
        doc = self._docs.get(key)
        if doc is None:
            doc = self._docs[key] = Doc(kind, node.uuid)
        else:
            self._feed.pop(doc.seq, None)
        self._seq += 1
        doc.seq, doc.revn, doc.deleted = self._seq, doc.revn + 1, deleted
        doc.value = self._record(node, kind, deleted)
        doc.rev = "%d-%s" % (doc.revn, hashlib.md5(
            jiffy([doc.revn, kind, node.uuid, doc.value])).hexdigest())
        self._feed[self._seq] = doc
        self._seqs.append(self._seq)
        self._cond.notify_all()

    def _record(self, node, kind, deleted):
        if kind == "file_meta":
            name = self.space_name if node is self.root else node.name
            return {"name": name, "type": node.type, "mode": node.mode, "owner": node.owner,
                    "provider_id": self.provider_id, "shares": [], "deleted": deleted}
        if kind == "file_location":
            return {"provider_id": self.provider_id, "storage_id": self.storage_id,
                    "size": len(node.data), "space_id": self.space_id,
                    "storage_file_created": node.storage_file_created}
        if kind == "times":
            return {"atime": node.atime, "mtime": node.mtime, "ctime": node.ctime}
        return dict(node.xattrs)

    def _attr(self, node, attr):
        if attr == "guid":
            return object_id(node.uuid, self.space_id)
        if attr == "parent_guid":
            return object_id(node.parent.uuid, self.space_id) if node.parent else None
        if attr == "mode":
            return "%03o" % node.mode
        if attr == "size":
            return None if node.type == "DIR" else len(node.data)
        if attr == "shares":
            return []
        if attr == "index":
            return _b64({"name": node.name})
        if attr in ("uid", "gid"):
            return 0
        if attr == "owner_id":
            return node.owner
        if attr == "provider_id":
            return self.provider_id
        if attr == "hardlink_count":
            return 1
        if attr == "path":
            return self._path(node)
        return getattr(node, attr)  # name, type, atime, mtime, ctime, creation_time

    # -- the changes feed (under the lock) -----------------------------------------------------
    def _pending(self, cursor):
        """Documents whose latest save is at seq >= cursor, in seq order."""
        if cursor > self._seq:
            return []
        i = bisect.bisect_left(self._seqs, cursor)
        return [self._feed[s] for s in self._seqs[i:] if s in self._feed]

    def _record_json(self, doc, changed, spec):
        if spec.kind == "custom_metadata":
            value = doc.value
            fields, exists = {}, {}
            others = {k: v for k, v in value.items() if k not in SPECIAL_XATTRS}
            for f in spec.fields:
                fields[f] = (others or None) if f == "onedata_keyvalue" else value.get(f)
            for f in spec.exists:
                exists[f] = bool(others) if f == "onedata_keyvalue" else f in value
            return {"rev": doc.rev, "mutators": [self.provider_id], "changed": changed,
                    "deleted": doc.deleted, "fields": fields, "exists": exists}
        return {"rev": doc.rev, "mutators": [self.provider_id], "changed": changed,
                "deleted": doc.deleted, "fields": {f: doc.value[f] for f in spec.fields}}

    def _line(self, st, doc):
        """The JSON line for one observed document, or None (nothing requested, or skipped)."""
        changes = {}
        for spec in st.specs:
            if not all(isinstance(f, str) for f in spec.fields + spec.exists):
                return None  # jiffy cannot encode a non-string key: the line is dropped
            if spec.kind == doc.kind:
                changes[spec.record] = self._record_json(doc, True, spec)
            elif spec.always:
                other = self._docs.get((spec.kind, doc.uuid))
                if other is None or other.deleted:
                    self.skipped_lines += 1  # op-worker: badmatch, caught, logged at debug
                    return None
                changes[spec.record] = self._record_json(other, False, spec)
        if not changes:
            return None
        node = self._nodes.get(doc.uuid)
        changes.update(fileId=object_id(doc.uuid, self.space_id),
                       filePath=self._path(node) if node else "", seq=doc.seq)
        return jiffy(changes) + self.line_end

    # -- request entry (handler threads) -----------------------------------------------------
    def _take_faults(self, op):
        return self._take_faults_where(lambda f: f["op"] in (None, op))

    def _error_reply(self, rec, e):
        self._finish(rec, e.status, e.id or str(e.status))
        hdrs = dict(e.headers)
        if e.body() is None:
            return e.status, hdrs, b""
        hdrs["content-type"] = "application/json"
        return e.status, hdrs, jiffy(e.body())

    def _dispatch(self, h, rec):
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()
        try:
            route = self._route(rec)
        except OnedataError as e:
            return self._error_reply(rec, e)
        rec.op = route[0]
        fail, delay = self._take_faults(rec.op)
        if delay and self._stopping.wait(delay["seconds"]):
            return None
        try:
            if fail:
                raise fail["error"] or fault_error(fail["status"])
            return self._call(h, rec, *route)
        except OnedataError as e:
            return self._error_reply(rec, e)

    def _route(self, rec):
        """(op, allowed method, path arguments) of a request, or OnedataError 404/405."""
        path = rec.raw_path
        if not path.startswith(API + "/"):
            raise _err(404, "notFound", "The resource could not be found.")
        segs = path[len(API) + 1:].split("/")
        dec = [unquote(s) for s in segs]
        if len(segs) == 3 and segs[:2] == ["changes", "metadata"] and segs[2]:
            route = ("changes", {"POST"}, dec[2])
        elif len(segs) >= 2 and segs[0] == "lookup-file-id":
            route = ("lookup", {"POST"}, [s for s in dec[1:] if s])
        elif len(segs) == 3 and segs[0] == "data" and segs[2] == "children":
            route = ("children", {"GET"}, dec[1])
        elif len(segs) == 3 and segs[0] == "data" and segs[2] == "content":
            route = ("content", {"GET"}, dec[1])
        elif len(segs) == 2 and segs[0] == "data" and segs[1]:
            route = ("attrs", {"GET"}, dec[1])
        elif segs in (["spaces"], ["spaces", ""]):
            route = ("spaces", {"GET"}, None)
        elif self.legacy_path_api and segs[0] in ("files", "attributes"):
            route = ("legacy_" + segs[0], {"GET"}, [s for s in dec[1:] if s])
        else:
            raise _err(404, "notFound", "The resource could not be found.")
        if rec.method not in route[1]:
            # cowboy_rest answers allowed_methods before anything else, with no body
            rec.op = route[0]
            raise OnedataError(405, None, {"allow": ", ".join(sorted(route[1]))})
        return route[0], route[2]

    def _auth(self, rec, changes):
        """The token's options, or OnedataError (http_auth:authenticate + the handlers)."""
        token = rec.header("x-auth-token")
        if token is None:
            authz = rec.header("authorization")
            if authz is not None and authz.startswith("Bearer "):
                token = authz[len("Bearer "):]
        if token is None:
            token = rec.header("macaroon")
        if token is None:
            raise unauthorized()
        opts = self.tokens.get(token)
        if opts is None:
            raise unauthorized(bad_token())
        if changes and opts["data_caveat"]:
            raise unauthorized(data_caveat_unverified())
        return opts

    def _call(self, h, rec, op, arg):
        if op.startswith("legacy_"):
            return self._legacy(rec, op, arg)
        opts = self._auth(rec, op == "changes")
        if op == "changes":
            if arg != self.space_id or not opts["changes"]:
                raise forbidden()
            return self._changes(h, rec, arg)
        if op == "spaces":
            return self._ok(rec, [{"name": self.space_name, "spaceId": self.space_id,
                                   "fileId": self.space_dir_id, "dirId": self.space_dir_id,
                                   "providers": [{"providerId": self.provider_id,
                                                  "providerName": self.provider_id}]}])
        if op == "lookup":
            if not arg or arg[0] != self.space_name:
                raise posix("enoent")
            with self._cond:
                node = self._lookup("/" + "/".join(arg))
                if node is None:
                    raise posix("enoent")
                return self._ok(rec, {"fileId": object_id(node.uuid, self.space_id)})
        data = self._params(rec)
        with self._cond:
            node = self._node_by_id(arg)
            if op == "attrs":
                attrs, gen = self._requested_attrs(data, DEPRECATED_ALL)
                return self._ok(rec, self._attrs_json(node, attrs, gen))
            if op == "children":
                return self._ok(rec, self._children(node, data))
            content = self._content(h, rec, node)
        return content

    def _ok(self, rec, obj):
        self._finish(rec, 200, "ok")
        return 200, {"content-type": "application/json"}, jiffy(obj)

    # -- data API ------------------------------------------------------------------------------
    def _params(self, rec):
        """rest_handler get_data(as_json_params): the JSON body, overridden by the query,
        a repeated query key becoming a list."""
        body = {}
        if rec.body:
            try:
                body = json.loads(rec.body)
            except ValueError:
                raise malformed_data() from None
            if not isinstance(body, dict):
                raise malformed_data()
        query = {}
        for k, v in parse_qsl(rec.raw_query, keep_blank_values=True):
            query[k] = query[k] + [v] if isinstance(query.get(k), list) else (
                [query[k], v] if k in query else v)
        return {**body, **query}

    def _node_by_id(self, oid):
        parsed = parse_object_id(oid)
        if parsed is None:
            if oid == self.space_id:
                return self.root
            if len(oid) == 32 and all(c in "0123456789abcdef" for c in oid):
                raise space_not_supported(oid, self.provider_id)
            raise bad_value_identifier("id")
        node = self._nodes.get(parsed[0])
        if node is None or parsed[1] != self.space_id:
            raise posix("enoent")
        return node

    def _requested_attrs(self, data, default):
        for key, gen in (("attributes", "current"), ("attribute", "deprecated")):
            if key not in data:
                continue
            names = data[key] if isinstance(data[key], list) else [data[key]]
            by_json = {v[0 if gen == "current" else 1]: a for a, v in ATTRS.items()
                       if v[0 if gen == "current" else 1]}
            allowed = [ATTRS[a][0 if gen == "current" else 1] for a in ATTRS
                       if ATTRS[a][0 if gen == "current" else 1]]
            out = []
            for n in names:
                if n not in by_json:
                    raise bad_value_not_allowed(key, allowed)
                out.append(by_json[n])
            return out, gen
        return list(default), "default"

    def _attrs_json(self, node, attrs, gen):
        out = {}
        for a in attrs:
            cur, dep = ATTRS[a]
            value = self._attr(node, a)
            if gen in ("current", "default"):
                out[cur] = value
            if gen in ("deprecated", "default") and dep:
                out[dep] = value
        return out

    def _children(self, node, data):
        if node.children is None:
            raise posix("enotdir")
        limit = _int_param(data, "limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT)
        attrs, gen = self._requested_attrs(data, ["guid", "name"])
        names = sorted(node.children, key=sorting_key)
        keys = [sorting_key(n) for n in names]
        if "token" in data:
            try:
                state = _unb64(str(data["token"]))
                start = bisect.bisect_right(keys, state["last"]) if state["last"] else 0
                if state["done"]:
                    start = len(names)
            except (ValueError, KeyError, TypeError):
                raise posix("einval") from None
        else:
            offset = _int_param(data, "offset", 0, -MAX_LIST_OFFSET, MAX_LIST_OFFSET)
            inclusive = _bool_param(data, "inclusive", True)
            start = 0
            if "index" in data:
                try:
                    index_name = _unb64(str(data["index"]))["name"]
                except (ValueError, KeyError, TypeError):
                    index_name = str(data["index"])  # file_listing:decode_index falls back
                k = sorting_key(index_name)
                start = (bisect.bisect_left if inclusive else bisect.bisect_right)(keys, k)
            start = max(0, start + offset)
        page = names[start:start + limit]
        done = len(page) < limit
        last = sorting_key(page[-1]) if page else (keys[start - 1] if 0 < start <= len(keys)
                                                    else None)
        return {"children": [self._attrs_json(node.children[n], attrs, gen) for n in page],
                "isLast": done, "nextPageToken": _b64({"last": last, "done": done})}

    def _content(self, h, rec, node):
        if node.type == "DIR":
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                self._tar(tar, node, node.name)
            self._finish(rec, 200, "ok")
            return 200, {"content-type": "application/x-tar", "content-disposition":
                         f'attachment; filename="{node.name}.tar"'}, buf.getvalue()
        data = bytes(node.data)
        size = len(data)
        ctype = mimetypes.guess_type(node.name)[0] or "application/octet-stream"
        hdrs = {"content-type": ctype,
                "content-disposition": f'attachment; filename="{node.name}"'}
        header = rec.header("range")
        if header is None:
            self._finish(rec, 200, "ok")
            return 200, hdrs, data
        ranges = _parse_ranges(header, size)
        if ranges is None:
            self._finish(rec, 416, "416")
            return 416, {"content-range": f"bytes */{size}"}, b""
        self._finish(rec, 206, "ok")
        if len(ranges) == 1:
            a, b = ranges[0]
            hdrs["content-range"] = f"bytes {a}-{b}/{size}"
            return 206, hdrs, data[a:b + 1]
        boundary = uuid.uuid4().hex
        parts = b"".join(b"--%s\r\ncontent-type: %s\r\ncontent-range: bytes %d-%d/%d\r\n\r\n%s\r\n"
                         % (boundary.encode(), ctype.encode(), a, b, size, data[a:b + 1])
                         for a, b in ranges) + b"--%s--\r\n" % boundary.encode()
        return 206, {"content-type": f"multipart/byteranges; boundary={boundary}"}, parts

    def _tar(self, tar, node, name):
        info = tarfile.TarInfo(name)
        info.mtime, info.mode = node.mtime, node.mode
        if node.type == "DIR":
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
            for child in sorted(node.children, key=sorting_key):
                self._tar(tar, node.children[child], name + "/" + child)
        else:
            info.size = len(node.data)
            tar.addfile(info, io.BytesIO(bytes(node.data)))

    # -- the 18.02/19.02 path API (OneTrigger) ----------------------------------------------------
    def _legacy(self, rec, op, segs):
        """`files.erl` and `attributes.erl` of op-worker before 20.02 (COMPAT.md §1.4)."""
        try:
            self._auth(rec, False)
        except OnedataError:
            raise legacy_error(401, "unauthorized", "Error unauthorized.") from None
        query = dict(parse_qsl(rec.raw_query, keep_blank_values=True))
        with self._cond:
            node = self._lookup("/" + "/".join(segs)) if segs and segs[0] == self.space_name \
                else None
            if node is None:
                raise legacy_error(404, "not_found", "The resource could not be found.")
            path = self._path(node)
            if op == "legacy_attributes":
                attrs = {"mode": "0%o" % node.mode,
                         "size": len(node.data) if node.type == "REG" else 0,
                         "atime": node.atime, "ctime": node.ctime, "mtime": node.mtime,
                         "storage_group_id": 0, "storage_user_id": 0, "name": node.name,
                         "owner_id": node.owner, "shares": [],
                         "type": "dir" if node.type == "DIR" else "reg",
                         "file_id": object_id(node.uuid, self.space_id)}
                if "attribute" in query:
                    if query["attribute"] not in attrs:
                        raise legacy_error(400, "invalid_attribute", "Given attribute is "
                                           "not valid.")
                    attrs = {query["attribute"]: attrs[query["attribute"]]}
                return self._ok(rec, attrs)
            try:
                offset = _integer("offset", query.get("offset", "0"))
            except OnedataError:
                raise legacy_error(400, "invalid_offset", "Requested offset is invalid, it "
                                   "must be of integer type.") from None
            limit = query.get("limit")
            if limit is not None:
                try:
                    limit = _integer("limit", limit)
                    if limit <= 0:
                        raise bad_value_integer("limit")
                except OnedataError:
                    raise legacy_error(400, "invalid_limit", "Requested limit is invalid, it "
                                       "must be a positive integer.") from None
                if limit >= 1000:
                    raise legacy_error(400, "limit_too_large", "Requested limit exceeds "
                                       "maximal value of 1000.")
            if node.children is None:
                return self._ok(rec, [{"id": object_id(node.uuid, self.space_id),
                                       "path": path}])
            if limit is None and len(node.children) > 1000:
                raise legacy_error(400, "too_many_entries", "The directory contains too many "
                                   "entries to list them all, ask for specific range.")
            names = sorted(node.children, key=sorting_key)
            page = names[max(0, offset):max(0, offset) + (1000 if limit is None else limit)]
            return self._ok(rec, [{"id": object_id(node.children[n].uuid, self.space_id),
                                   "path": path + "/" + n} for n in page])

    # -- the changes stream --------------------------------------------------------------------
    def _changes(self, h, rec, space_id):
        ctype = (rec.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise OnedataError(415)
        query = dict(parse_qsl(rec.raw_query, keep_blank_values=True))  # last value wins
        timeout = query.get("timeout", "infinity")
        timeout = None if timeout == "infinity" else _integer("timeout", timeout)
        last_seq = query.get("last_seq", "now")
        with self._cond:
            cursor = self._seq + 1 if last_seq == "now" else _integer("last_seq", last_seq)
        try:
            spec = json.loads(rec.body.decode("utf-8"))
        except ValueError:
            raise OnedataError(500) from None  # the handler's catch-all: empty 500
        specs, triggers = _parse_spec(spec)
        st = _Stream(specs, triggers, cursor, timeout, rec)
        self._finish(rec, 200, "ok")
        try:
            h.send_response(200)
            for k, v in (("content-type", "application/json"), ("transfer-encoding", "chunked")):
                h.send_header(k, v)
            h.end_headers()
        except OSError:
            return None
        if timeout is not None and timeout < 0:
            return _reset(h)  # `receive ... after -1` raises: the process dies mid-reply
        with self._cond:
            self._streams.append(st)
            self._cond.notify_all()
        try:
            return self._stream(h, st)
        finally:
            self._unregister(st)

    def _unregister(self, st):
        """Before the last bytes go out, so a client that saw its stream end never counts it
        among the open ones."""
        with self._cond:
            if st in self._streams:
                self._streams.remove(st)
                self._cond.notify_all()

    def _stream(self, h, st):
        deadline = None if st.timeout is None else time.monotonic() + st.timeout / 1000
        while True:
            with self._cond:
                while True:
                    if st.cut or st.end or st.raw or self._stopping.is_set():
                        break
                    if not self._held and self._pending(st.cursor):
                        break
                    if _client_gone(h):  # cowboy sees the close and terminates the stream
                        self._streams.remove(st)
                        self._cond.notify_all()
                        h.close_connection = True
                        return None
                    left = 0.2 if deadline is None else deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(min(left, 0.2))
                raw, st.raw = st.raw, []
                reading = (st.cut or not self._held) and not st.end
                docs = [d for d in self._pending(st.cursor) if d.kind in st.triggers] \
                    if reading else []
                if reading:
                    st.cursor = self._seq + 1
                lines = [ln for ln in (self._line(st, d) for d in docs) if ln is not None]
                cut, stopping = st.cut, self._stopping.is_set()
                if cut == "line" or cut == "chunk":
                    first = lines[0] if lines else b'{"fileId":"' + b"0" * 40 + b'"}\r\n'
                    half = first[:max(1, len(first) // 2)]
                st.sent += len(lines) if not cut else 0
            try:
                if cut or stopping:
                    self._unregister(st)
                    if cut == "line":
                        h.wfile.write(b"%x\r\n%s\r\n" % (len(half), half))
                    elif cut == "chunk":
                        h.wfile.write(b"%x\r\n%s" % (len(first), half))
                    return _reset(h)
                for chunk in raw:
                    _chunk(h, chunk)
                if self.chunking == "batch" and lines:
                    _chunk(h, b"".join(lines))
                else:
                    for line in lines:
                        if self.chunking == "split" and len(line) > 1:
                            _chunk(h, line[:len(line) // 2])
                            _chunk(h, line[len(line) // 2:])
                        else:
                            _chunk(h, line)
                if docs and st.timeout is not None:
                    deadline = time.monotonic() + st.timeout / 1000
                if st.end or (deadline is not None and not docs and not raw and
                              time.monotonic() >= deadline):
                    self._unregister(st)
                    h.wfile.write(b"0\r\n\r\n")
                    return "keep-alive"  # a complete response: the connection stays usable
            except OSError:
                h.close_connection = True
                return None


# -- request parsing helpers -----------------------------------------------------------------------
def _integer(key, text):
    """binary_to_integer: an optional sign and digits only."""
    t = text[1:] if text[:1] in "+-" else text
    if not t or not t.isascii() or not t.isdigit():
        raise bad_value_integer(key)
    return int(text)


def _int_param(data, key, default, low, high):
    if key not in data:
        return default
    v = data[key]
    if isinstance(v, str):
        try:
            v = _integer(key, v)
        except OnedataError:
            raise bad_value_integer(key) from None
    if isinstance(v, bool) or not isinstance(v, int):
        raise bad_value_integer(key)
    if not low <= v <= high:
        raise bad_value_not_in_range(key, low, high)
    return v


def _bool_param(data, key, default):
    v = data.get(key, default)
    if v in ("true", "false"):
        v = v == "true"
    if not isinstance(v, bool):
        raise bad_value_boolean(key)
    return v


def _parse_spec(spec):
    """changes_stream_handler:parse_body/2: ([_Spec], {doc kinds observed})."""
    if not isinstance(spec, dict):
        raise bad_value_json("changesSpecification")
    raw_triggers = spec.get("triggers", list(OBSERVABLE))
    if not isinstance(raw_triggers, list):
        raise bad_value_list_of_strings("triggers")
    triggers = set()
    for t in raw_triggers:
        if t not in OBSERVABLE:
            raise bad_value_not_allowed("triggers", OBSERVABLE)
        triggers.add(DOC_KIND[t])
    specs = []
    for rec in sorted(k for k in spec if k != "triggers"):
        raw = spec[rec]
        if rec not in OBSERVABLE or not isinstance(raw, dict):
            raise bad_data(rec)
        always = raw.get("always", False)
        fields = raw.get("fields", [])
        exists = []
        if rec == "customMetadata":
            exists = raw.get("exists", [])
            if not isinstance(fields, list):
                raise bad_value_list_of_strings(rec + ".fields")
            if not isinstance(exists, list):
                raise bad_value_list_of_strings(rec + ".exists")
        if not isinstance(always, bool):
            raise bad_value_boolean(rec + ".always")
        if rec != "customMetadata":
            if not isinstance(fields, list):
                raise bad_value_list_of_strings(rec + ".fields")
            for f in fields:
                if f not in FIELDS[rec]:
                    raise bad_value_not_allowed(rec + ".fields", FIELDS[rec])
        specs.append(_Spec(rec, always, list(fields), list(exists)))
    if not specs:
        raise bad_value_empty("changesSpecification")
    return specs, triggers


def _parse_ranges(header, size):
    """http_parser:parse_bytes_ranges: [(first, last)] or None (416)."""
    unit, sep, spec = header.partition("=")
    if not sep or unit != "bytes" or "=" in spec:
        return None
    out = []
    for r in [p for p in spec.replace(" ", ",").replace("\t", ",").split(",") if p]:
        parts = r.split("-")
        if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts if p) or \
                parts == ["", ""]:
            return None
        if parts[0] == "":
            a, b = max(0, size - int(parts[1])), size - 1
        elif parts[1] == "":
            a, b = int(parts[0]), size - 1
        else:
            a, b = int(parts[0]), min(int(parts[1]), size - 1)
        if a < 0 or a > b or a >= size:
            return None
        out.append((a, b))
    return out or None


def _client_gone(h):
    """True once the client closed or reset its end (readable with nothing to read)."""
    try:
        readable, _, _ = select.select([h.connection], [], [], 0)
        return bool(readable) and h.connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _chunk(h, data):
    h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


def _reset(h):
    """Drops a connection with a TCP RST, as a crashed or cut-off server would. What was
    written before is let out first (an RST discards the unsent rest of the send queue)."""
    h.close_connection = True
    _drain_send_queue(h.connection)
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.rfile.close()        # the only other reference to the socket (wfile holds none),
        h.connection.close()   # so this really closes it, and SO_LINGER 0 makes it an RST
    except OSError:
        pass


def _drain_send_queue(sock, timeout=1.0):
    """Waits (bounded) until the kernel has sent and had acknowledged what we wrote (Linux
    TIOCOUTQ); elsewhere, returns at once."""
    try:
        import fcntl
        import termios
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            left = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ,
                                                  b"\0\0\0\0"))[0]
            if left == 0:
                return
            time.sleep(0.001)
    except (ImportError, OSError, AttributeError):
        pass


class _Handler(LoopbackHandler):
    length_header = "content-length"

    def version_string(self):
        return "Cowboy"

    def _handle(self):
        fake = self.server.fake
        raw_path, raw_query, headers = self._raw_target()
        if self.headers.get("Transfer-Encoding"):
            body = read_chunked(self.rfile)
        else:
            try:
                length = int(self.headers.get("Content-Length", 0))
            except ValueError:
                self.close_connection = True
                return self._answer(400, {"connection": "close"}, b"")
            body = self.rfile.read(length) if length else b""
        rec = Recorded(self.command, raw_path, raw_query, headers, body)
        reply = fake._dispatch(self, rec)
        if reply == "keep-alive":  # a stream that ended with its final chunk
            return None
        if reply is None:  # streamed and cut, or cut short by stop()
            self.close_connection = True
            return None
        return self._answer(*reply)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


# -- test clients ----------------------------------------------------------------------------------
class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def error_id(self):
        try:
            return self.json()["error"]["id"]
        except (ValueError, KeyError, TypeError):
            return None

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


class OnedataClient:
    """Plain Oneprovider REST calls with a token header (default X-Auth-Token)."""

    def __init__(self, url, token, space_id, auth="x-auth-token", timeout=10):
        host, _, port = url.rpartition("//")[2].partition(":")
        self.host, self.port, self.token, self.space_id = host, int(port), token, space_id
        self.auth, self.timeout = auth, timeout

    def auth_headers(self):
        if self.token is None:
            return []
        if self.auth == "bearer":
            return [("Authorization", "Bearer " + self.token)]
        if self.auth == "macaroon":
            return [("Macaroon", self.token)]
        return [("X-Auth-Token", self.token)]

    def request(self, method, path, query=None, body=b"", headers=None):
        """`path` below /api/v3/oneprovider (already %-encoded); `query` a str or pairs."""
        if query is not None and not isinstance(query, str):
            query = urlencode(query)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.putrequest(method, API + path + (f"?{query}" if query else ""),
                            skip_accept_encoding=True)
            for n, v in self.auth_headers() + list(headers or []):
                conn.putheader(n, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def children(self, file_id, **params):
        """GET /data/{id}/children; a list value repeats the key (attributes=[...])."""
        q = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
        return self.request("GET", f"/data/{quote(file_id, safe='')}/children", q)

    def attrs(self, file_id, **params):
        q = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
        return self.request("GET", f"/data/{quote(file_id, safe='')}", q)

    def content(self, file_id, range_=None):
        return self.request("GET", f"/data/{quote(file_id, safe='')}/content",
                            headers=[("Range", range_)] if range_ else None)

    def lookup(self, path):
        """POST /lookup-file-id/<path> (with the space name first)."""
        return self.request("POST", "/lookup-file-id/" + quote(path.lstrip("/")))

    def spaces(self):
        return self.request("GET", "/spaces")

    def changes(self, spec=None, last_seq=None, timeout=None, space_id=None, method="POST",
                body=None, content_type="application/json", query=None, headers=None):
        """Opens the changes stream; returns a ChangesStream once the status line and headers
        are in (op-worker sends them at once). `headers`: more (name, value) pairs."""
        if body is None:
            body = json.dumps(spec if spec is not None else
                              {"fileMeta": {"fields": ["name", "type", "deleted"],
                                            "always": True}}).encode()
        if query is None:
            query = [(k, str(v)) for k, v in (("timeout", timeout), ("last_seq", last_seq))
                     if v is not None]
        query = query if isinstance(query, str) else urlencode(query)
        path = f"{API}/changes/metadata/{space_id or self.space_id}" + (
            f"?{query}" if query else "")
        extra = list(headers or [])
        headers = [("Host", f"{self.host}:{self.port}")] + self.auth_headers() + extra
        if content_type:
            headers.append(("Content-Type", content_type))
        headers.append(("Content-Length", str(len(body))))
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.sendall(f"{method} {path} HTTP/1.1\r\n".encode() + b"".join(
            f"{n}: {v}\r\n".encode() for n, v in headers) + b"\r\n" + body)
        return ChangesStream(sock)


class StreamCut(Exception):
    """The stream broke off: a reset or EOF before the final chunk, or a short chunk."""


class ChangesStream:
    """A changes response read chunk by chunk off the socket, so tests see chunk boundaries,
    `\\r\\n` line ends, the final empty chunk and resets as they are."""

    def __init__(self, sock):
        self.sock, self.f = sock, sock.makefile("rb")
        status = self.f.readline()
        if not status:
            raise StreamCut("no response")
        self.status = int(status.split(b" ")[1])
        self.headers = {}
        while True:
            line = self.f.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        self.ended = False    # the final empty chunk arrived
        self.received = b""   # every body byte so far
        self._buf = b""
        self.body = b""
        if not self.chunked:
            n = int(self.headers.get("content-length", 0))
            self.body = self.f.read(n) if n else b""

    def json(self):
        return json.loads(self.body)

    def error_id(self):
        return Response(self.status, self.headers, self.body).error_id()

    def read_chunk(self):
        """The next chunk's data; b"" at the final chunk. StreamCut when the connection broke
        off first (what was read of a short chunk is kept in `received`)."""
        try:
            size_line = self.f.readline()
            if not size_line.endswith(b"\r\n"):
                raise StreamCut(f"cut in a chunk header: {size_line!r}")
            size = int(size_line.split(b";")[0], 16)
            data = b""
            while len(data) < size:  # piecewise, so a short chunk keeps what did arrive
                part = self.f.read1(size - len(data))
                if not part:
                    raise StreamCut(f"chunk cut short: {len(data)} of {size} bytes")
                data += part
                self.received += part
            if self.f.read(2) != b"\r\n":
                raise StreamCut("chunk without its CRLF")
        except (OSError, ValueError) as e:
            raise StreamCut(str(e)) from e
        if size == 0:
            self.ended = True
        return data

    def readline(self):
        """The next line with its terminator (up to b"\\n"), across chunks; b"" once the
        stream has ended; StreamCut if it broke off (the partial line stays in `pending`)."""
        while b"\n" not in self._buf:
            if self.ended:
                line, self._buf = self._buf, b""
                return line
            self._buf += self.read_chunk()
        line, _, self._buf = self._buf.partition(b"\n")
        return line + b"\n"

    @property
    def pending(self):
        return self._buf

    def changes(self):
        """Each line as JSON until the stream ends (each must end with \\r\\n)."""
        while True:
            line = self.readline()
            if not line:
                return
            if not line.endswith(b"\r\n"):
                raise AssertionError(f"line not ended by CRLF: {line!r}")
            yield json.loads(line)

    def next_change(self):
        line = self.readline()
        if not line:
            raise AssertionError("the stream ended")
        if not line.endswith(b"\r\n"):
            raise AssertionError(f"line not ended by CRLF: {line!r}")
        return json.loads(line)

    def close(self):
        for c in (self.f, self.sock):
            try:
                c.close()
            except OSError:
                pass
