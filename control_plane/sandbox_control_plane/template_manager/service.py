"""Template CRUD: decides what is allowed; the repository stores it."""

from __future__ import annotations

from sandbox_control_plane.container_scheduler.base import ContainerRuntime, RuntimeError_
from sandbox_control_plane.db.engine import Database
from sandbox_control_plane.db.repositories import pools as pools_repo
from sandbox_control_plane.db.repositories import sessions as sessions_repo
from sandbox_control_plane.db.repositories import templates as repo
from sandbox_control_plane.domain import Page, TemplateRecord
from sandbox_control_plane.template_manager.validator import TemplateSpec, validate_image, validate_spec
from sandbox_control_plane.utils.errors import NotFoundError, RuntimeUnavailableError, TemplateInUseError
from sandbox_control_plane.utils.ids import new_id


def template_not_found(template_id: str) -> NotFoundError:
    return NotFoundError(f"No template {template_id} for this token.", {"template_id": template_id})


class TemplateService:
    def __init__(self, db: Database, runtime: ContainerRuntime) -> None:
        self._db = db
        self._runtime = runtime

    async def _check(self, spec: TemplateSpec) -> None:
        validate_spec(spec)
        try:
            info = await self._runtime.inspect_image(spec.image)
        except RuntimeError_ as error:
            raise RuntimeUnavailableError(str(error)) from error
        validate_image(spec.image, info)

    @staticmethod
    def _columns(spec: TemplateSpec) -> dict[str, object]:
        return repo.columns_of(
            name=spec.name,
            description=spec.description,
            image=spec.image,
            languages=spec.languages,
            default_resources=spec.default_resources,
            max_resources=spec.max_resources,
            default_timeout_s=spec.default_timeout_s,
            network=spec.network,
        )

    async def create(self, tenant_id: str, spec: TemplateSpec) -> TemplateRecord:
        await self._check(spec)
        async with self._db.transaction() as conn:
            return await repo.insert(conn, new_id("tpl"), tenant_id, self._columns(spec))

    async def get(self, tenant_id: str, template_id: str) -> TemplateRecord:
        async with self._db.transaction() as conn:
            found = await repo.get(conn, tenant_id, template_id)
        if found is None:
            raise template_not_found(template_id)
        return found

    async def list(self, tenant_id: str, limit: int, cursor: str | None) -> Page[TemplateRecord]:
        async with self._db.transaction() as conn:
            return await repo.list_page(conn, tenant_id, limit, cursor)

    async def replace(self, tenant_id: str, template_id: str, spec: TemplateSpec) -> TemplateRecord:
        """Sessions already created keep what they copied; new ones get the new values."""
        await self.get(tenant_id, template_id)
        await self._check(spec)
        async with self._db.transaction() as conn:
            updated = await repo.update(conn, tenant_id, template_id, self._columns(spec))
        if updated is None:
            raise template_not_found(template_id)
        return updated

    async def delete(self, tenant_id: str, template_id: str) -> None:
        async with self._db.transaction() as conn:
            if await repo.get(conn, tenant_id, template_id) is None:
                raise template_not_found(template_id)
            live = await sessions_repo.count_live_for_template(conn, tenant_id, template_id)
            if live:
                raise TemplateInUseError(
                    f"The template {template_id} has {live} session(s) not yet terminated.",
                    {"template_id": template_id, "sessions": live},
                )
            # Its pools go with it; the pool keeper recycles their unclaimed containers.
            await pools_repo.delete_for_template(conn, tenant_id, template_id)
            await repo.delete(conn, tenant_id, template_id)
