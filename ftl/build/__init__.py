"""Building a project: find modules, order them, extract their schemas, generate client stubs.

- `discover`: modules (`ftl.toml`) under the project's `module-dirs`.
- `graph`: who uses whose generated client; build order; cycles; what to rebuild after a change.
- `stubs`: typed `ftl_modules.<module>` clients under `.ftl/stubs/`.
- `build`: `build_project`, what `ftl build` and `ftl schema get` run.
"""

from ftl.build.build import BuildResult, build_project
from ftl.build.discover import ModuleInfo, discover_modules, scan_modules
from ftl.build.graph import dependency_graph, dependents_of, topological_order
from ftl.build.stubs import stubs_dir

__all__ = [
    "BuildResult",
    "ModuleInfo",
    "build_project",
    "dependency_graph",
    "dependents_of",
    "discover_modules",
    "scan_modules",
    "stubs_dir",
    "topological_order",
]
