"""Dropbox: files created, updated and deleted, through a folder listing's cursor.

Docs: https://www.dropbox.com/developers/documentation/http/documentation#files-list_folder (``POST
/2/files/list_folder`` with ``path``, ``recursive``, ``limit``: ``entries``, ``cursor``, ``has_more``),
#files-list_folder-continue (``{"cursor"}``: the entries changed since that cursor, ``has_more`` while there are
more, a new ``cursor`` on every page; a cursor Dropbox no longer honours answers 409 with ``reset``) and
https://www.dropbox.com/developers/reference/data-ingress-guide (429 with Retry-After). Every call is a POST with a
JSON body and ``Authorization: Bearer``. Entries are ``file``, ``folder`` or ``deleted`` (``.tag``); a deleted entry
names only its path, so records are known by ``path_lower``: a moved file is deleted at one path and created at
another.

Dropbox names no creation time, so created and updated are told apart by whether the pair has read the path
before (``seen_ids``): the first round lists every file under the folder (``path``, the root by default), paged
through without firing, and keeps their paths; a later file entry at a path not kept is File Created, at a kept
path File Updated (once per ``rev``), and a deleted entry is File Deleted and lets its path go. The pair keeps one
64-bit digest per file. A reset cursor starts a new listing, again without firing. Folders fire nothing.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

_AUTH = {"authorization": "Bearer {{credential.access_token}}"}


def _post(endpoint: str, body: dict[str, object]) -> RequestTemplate:
    return RequestTemplate(method="POST", url="{{api.base}}/2/files/" + endpoint, headers=_AUTH, body=body)


_LIST = {"path": "{{trigger.path}}", "recursive": True, "include_deleted": False, "limit": 2000}

FILES = PollSpec(
    key="dropbox:files",
    cursor="token",
    init=_post("list_folder", _LIST),
    init_page=_post("list_folder/continue", {"cursor": "{{poll.page}}"}),
    init_cursor_path="cursor",
    request=_post("list_folder/continue", {"cursor": "{{poll.cursor}}"}),
    page=_post("list_folder/continue", {"cursor": "{{poll.page}}"}),
    records_path="entries",
    id_path="path_lower",
    version_path="rev",
    cursor_path="cursor",
    next_page_path="cursor",
    more_path="has_more",
    reset_statuses=(409,),
    events=(
        EventRule(event_type="file.deleted", path=".tag", equals="deleted"),
        EventRule(event_type="file.created", path=".tag", equals="file", first_seen=True),
        EventRule(event_type="file.updated", path=".tag", equals="file"),
    ),
    seen_ids=True,
    forget_types=("file.deleted",),
    base_url="https://api.dropboxapi.com",
    params={"path": ""},
)

SPECS: dict[str, dict[str, PollSpec]] = {
    "dropbox": {"File Created": FILES, "File Updated": FILES, "File Deleted": FILES},
}
