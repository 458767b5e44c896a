from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "verifiers": {"router", "subscriptions", "starlette", "httpx", "redis", "pydantic"},
    "subscriptions": {"router", "starlette"},
}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependency_direction(package: str) -> None:
    paths = sorted((ROOT / package).rglob("*.py"))
    assert paths, f"{package} has no modules"
    for path in paths:
        bad = imported_roots(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def router_modules() -> list[Path]:
    return sorted(p for p in (ROOT / "router").rglob("*.py") if p.name not in {"__init__.py", "__main__.py"})


def router_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("router"):
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names if alias.name.startswith("router")}
    return names


ROUTER_ROOT_MODULES = {"settings", "errors", "logs", "tasks", "metrics"}


def test_storage_imports_no_other_stage() -> None:
    for path in sorted((ROOT / "router" / "storage").rglob("*.py")):
        for name in router_imports(path):
            part = name.split(".")[1]
            assert part in ROUTER_ROOT_MODULES | {"storage"}, f"{path.relative_to(ROOT)} imports {name}"


def test_only_the_cli_imports_the_cli() -> None:
    for path in router_modules():
        if "cli" in path.relative_to(ROOT / "router").parts:
            continue
        bad = {n for n in router_imports(path) if n.startswith("router.cli")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_outbound_clients_are_built_in_one_place() -> None:
    # Every client that reaches the outside goes through the egress guard.
    for path in router_modules() + sorted((ROOT / "subscriptions").rglob("*.py")):
        if path == ROOT / "router" / "egress" / "transport.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                built = node.func.attr in {"AsyncClient", "Client"} and ast.unparse(node.func.value) == "httpx"
                assert not built, f"{path.relative_to(ROOT)}:{node.lineno} builds an httpx client"


def test_every_router_module_is_on_the_map() -> None:
    # docs/architecture.md is the map a newcomer reads; a module missing from it is a module nobody finds.
    text = (ROOT / "docs" / "architecture.md").read_text()
    missing = []
    for path in router_modules():
        rel = path.relative_to(ROOT / "router")
        package = "/".join(rel.parts[:-1])
        if package.startswith("notifications/destinations"):
            continue  # one module per vendor, named as the vendor
        row = next((line for line in text.splitlines() if line.startswith(f"| `{package or 'router'}/` |")), "")
        if f"`{rel.name}`" not in row:
            missing.append(str(rel))
    assert not missing, f"modules missing from docs/architecture.md: {missing}"


def test_routing_core_imports_no_router_built_on_it() -> None:
    # The per-source routers build on core; core importing them back was an import cycle.
    names = router_imports(ROOT / "router" / "routing" / "core.py")
    for source in ("custom", "sdk", "lifecycle", "table"):
        bad = {n for n in names if n.startswith(f"router.routing.{source}")}
        assert not bad, f"router/routing/core.py imports {sorted(bad)}"


def test_shared_modules_of_verifiers_and_subscriptions_are_on_the_map() -> None:
    # Provider modules are named after their provider; the rest must be findable from the map.
    text = (ROOT / "docs" / "architecture.md").read_text()
    paths = [p for p in (ROOT / "verifiers").glob("*.py") if p.name.startswith("_") and p.name != "__init__.py"]
    paths += [p for p in (ROOT / "subscriptions").glob("*.py") if p.name != "__init__.py"]
    missing = [str(p.relative_to(ROOT)) for p in paths if f"`{p.name}`" not in text]
    assert not missing, f"modules missing from docs/architecture.md: {missing}"


# The dashboard reads and changes things only through the admin API's operations: besides its own modules it may
# reach the API's authentication (to know the signed-in key's scopes) and the lifespan state (the settings and the
# box that seals its cookie), never a store, index or worker behind the API.
UI_MAY_IMPORT = {"router.admin.guard.Caller", "router.admin.guard.authenticate", "router.runtime.state.app_state"}


def test_the_dashboard_has_no_back_door_around_the_admin_api() -> None:
    for path in sorted((ROOT / "router" / "ui").rglob("*.py")):
        bad = {n for n in router_imports(path) if not n.startswith("router.ui")} - UI_MAY_IMPORT
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
