"""Static files storage for production: hashed, compressed names, and our ES module imports rewritten."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage

# Our native ES modules. Django's own switch (``support_js_module_import_aggregation``) would rewrite
# imports in every JavaScript file, third-party ones included, and django-htmx ships extensions that
# import a bare "../htmx", which fails the build; so the rewrite is limited to the modules we write.
MODULE_DIRECTORIES = ("js/inbox/*.js",)
# ``import {a, b} from "./x.js";`` (static, relative, ending with a semicolon): the form our modules use.
MODULE_IMPORT = (
    r"""(?P<matched>import(?s:(?P<import>[\s\{].*?))\s*from\s*["'](?P<url>\.{1,2}/.*?)["']\s*;)""",
    """import%(import)s from "%(url)s";""",
)


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's compressed manifest storage that also points module imports at hashed names.

    The inbox is split into ES modules (``static/js/inbox/``) that import each other by relative URL.
    Without the rewrite, ``main.<hash>.js`` would import ``./list.js``: an unhashed name, not cached
    for good, whose content can change under a page that expects the old one. The modules must not
    import each other in a cycle: a cycle never settles its hashes and the build fails.
    """

    patterns = CompressedManifestStaticFilesStorage.patterns + tuple(
        (directory, (MODULE_IMPORT,)) for directory in MODULE_DIRECTORIES
    )
