"""The docs site's sources: every hand-written page is built, and the generated pages say
what the code says (every backend label, every spec type)."""

from __future__ import annotations

import dataclasses
import inspect

from reports.docs import build


def test_every_page_in_the_pages_folder_is_in_the_site():
    on_disk = {p.name for p in build.PAGES.glob("*.md")}
    assert on_disk == set(build.HAND_WRITTEN), on_disk ^ set(build.HAND_WRITTEN)


def test_generated_pages_name_every_backend_and_every_spec_type(tmp_path):
    import adapters.spec.model as model
    from adapters.registry import BACKENDS

    build.assemble(tmp_path)
    backends = (tmp_path / "docs" / "backends" / "index.md").read_text()
    assert all(f"| `{name}` | {entry.comparison} |" in backends for name, entry in BACKENDS.items())
    reference = (tmp_path / "docs" / "spec-reference.md").read_text()
    types = [c.__name__ for c in vars(model).values() if inspect.isclass(c)
             and dataclasses.is_dataclass(c) and c.__module__ == model.__name__]
    assert len(types) > 20 and all(f"\n## {name}\n" in reference for name in types)
    assert "| `tau_m` | `float` | `10.0` |" in reference
    nav = (tmp_path / "mkdocs.yml").read_text()
    assert all(page in nav for page in (*build.HAND_WRITTEN, *build.NOTES))
    for page in build.NOTES:
        assert (tmp_path / "docs" / page).read_text().startswith("# ")
