"""The avatar routes of the HTTP API (docs/protocol.md, "Avatars"): the registered avatars with their previews, a
photo uploaded to become a new avatar, and the deletion of uploaded ones.

Names are only compared with the registered ones (engines/avatar/catalog.py), never joined to a path by a route:
a new bundle's folder is made by the preparation (engines/avatar/prepare.py, which takes plain names only) inside
the server's uploads folder, and only bundles of that folder can be deleted. The token rule and the error shape
are the /v1/ middleware's (server/api/v1.py).
"""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from aiohttp import web

from engines.avatar.bundle import PREVIEW
from engines.avatar.prepare import MAX_PHOTO_BYTES, PreparationError, check_name
from engines.names import shown
from server.api.v1 import body_limit, read_form
from server.pipeline.errors import ProtocolError
from server.services import Services

# The photo may take the protocol's 10 MB; the form's other fields and its part headers get this much more.
_FORM_MARGIN = 64 * 1024
_USAGE = "'photo' (a JPEG, PNG or WebP file) and 'name'"


class AvatarRoutes:
    def __init__(self, services: Services) -> None:
        self._services = services

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/avatars", self.list),
            web.post("/v1/avatars", self.upload),
            web.get("/v1/avatars/{name}/preview.jpg", self.preview),
            web.delete("/v1/avatars/{name}", self.delete),
        ]

    async def list(self, request: web.Request) -> web.Response:
        services = self._services
        avatars = [{"name": name, "preview": preview_url(name)} for name in services.avatars.names()]
        body = {"avatars": avatars, "default": services.default_avatar_name}
        return web.json_response(body, headers={"Cache-Control": "no-cache"})

    async def preview(self, request: web.Request) -> web.StreamResponse:
        folder = self._registered(request.match_info["name"])
        preview = folder / PREVIEW
        if not preview.is_file():
            raise ProtocolError("not_found", f"avatar {shown(folder.name)} has no preview")
        return web.FileResponse(preview, headers={"Content-Type": "image/jpeg", "Cache-Control": "no-cache"})

    @body_limit(MAX_PHOTO_BYTES + _FORM_MARGIN)
    async def upload(self, request: web.Request) -> web.Response:
        """A photo becomes an avatar: 201 once its bundle is ready and registered."""
        preparer = self._services.avatar_preparer
        if preparer is None:
            raise ProtocolError("forbidden", "this server takes no avatar uploads")
        form = await read_form(request, ("photo",), _USAGE)
        name, photo = form.get("name"), form.get("photo")
        try:
            check_name(name)
        except PreparationError as error:
            raise ProtocolError(error.code, str(error)) from None
        if self._services.avatars.find(name) is not None:
            raise ProtocolError("exists", f"an avatar named {shown(name)} exists already")
        if not isinstance(photo, bytes):
            raise ProtocolError("bad_message", f"the form has no file 'photo': send {_USAGE}")
        try:
            folder = await preparer.prepare(photo, name)
        except PreparationError as error:
            raise ProtocolError(error.code, str(error)) from None
        await asyncio.to_thread(self._warm, name)
        location = f"/v1/avatars/{name}"
        return web.json_response({"name": folder.name}, status=201, headers={"Location": location})

    async def delete(self, request: web.Request) -> web.Response:
        folder = self._registered(request.match_info["name"])
        if not self._uploaded(folder):
            raise ProtocolError("forbidden", f"avatar {shown(folder.name)} is one of the server's own; it cannot be deleted")
        await asyncio.to_thread(shutil.rmtree, folder)
        return web.Response(status=204)

    def _registered(self, name: str) -> Path:
        folder = self._services.avatars.find(name)
        if folder is None:
            raise ProtocolError("not_found", f"no avatar {shown(name)}")
        return folder

    def _uploaded(self, folder: Path) -> bool:
        uploads = self._services.config.uploads.avatar_uploads
        return uploads is not None and folder.resolve().parent == uploads.resolve()

    def _warm(self, name: str) -> None:
        """Load the new bundle and do the renderer's precomputation now, off the event loop, not when the first
        session asks for it."""
        self._services.renderers.prepare(self._services.avatars.load(name))


def preview_url(name: str) -> str:
    return f"/v1/avatars/{name}/preview.jpg"
