"""Extraction: from a module's Python code to its schema (`ftl.schema.ast.Module`).

- `module_file`: reads `ftl.toml`.
- `source`, `typenodes`: parsed source and annotations, positions as the user sees them.
- `resolver`: annotations -> schema types; `decls`: data, enums, aliases, config, secrets.
- `verbs`: decorated functions -> verbs; `usage`: `+calls`/`+publish` from what code uses.
- `extractor`: puts one module together. `ftl.runtime.loader` imports the package and calls it.
"""

from ftl.runtime.extract.extractor import Extracted, extract_package
from ftl.runtime.extract.module_file import MODULE_FILE, ModuleFile, hidden_package, read_module_file
from ftl.runtime.extract.verbs import VerbHandle

__all__ = [
    "MODULE_FILE",
    "Extracted",
    "ModuleFile",
    "VerbHandle",
    "extract_package",
    "hidden_package",
    "read_module_file",
]
